#include "relay_intake.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "flatcast/directive.h"
#include "flatcast/duration.h"

namespace flatcast::broker {

namespace {
constexpr char kUpstreamCursor[] = "upstream";
}  // namespace

Status RelayIntake::Recover(const Store& store) {
  Result<uint64_t> cursor = store.Cursor(kUpstreamCursor);
  if (!cursor.ok()) return cursor.status();
  cursor_ = *cursor;
  return Status::Ok();
}

Status RelayIntake::Check(const v1::StoredDirective& version) const {
  const v1::Directive& d = version.directive();
  const std::string what =
      fmt::format("directive {} version {} (upstream version {})", d.id(), d.version(), version.seq());
  if (d.id().empty() || d.version() < 1 || version.seq() == 0) {
    return Status::InvalidArgument(what + " has no id, version or sequence number");
  }
  // The upstream validated it against the whole registry; checked again
  // here, since everything below (the index, the fan-out, the terminals)
  // relies on a well-formed directive.
  if (Status st = ValidateDirectiveContent(d); !st.ok()) {
    return Status::InvalidArgument(what + ": " + st.message());
  }
  const DirectiveState* latest = d_.index.Latest(d.id());
  if (latest != nullptr && latest->stored.directive().version() >= d.version()) {
    return Status::InvalidArgument(fmt::format("{} is not newer than version {} stored here", what,
                                               latest->stored.directive().version()));
  }
  // A version that reaches no unit here is another region's, unless it
  // withdraws the directive from units an earlier version reached.
  if (latest == nullptr && AddressedUnits(d, d_.registry).empty()) {
    return Status::PermissionDenied(what + " reaches no unit of this relay's region: refused, "
                                    "nothing stored");
  }
  if (d_.keys != nullptr) {
    auto key = VerifyDirectiveSignature(d, *d_.keys, FromTimestamp(d.sent()));
    if (!key.ok()) {
      return Status::PermissionDenied(what + ": signature refused: " + key.status().message());
    }
  }
  return Status::Ok();
}

void RelayIntake::OnVersion(v1::StoredDirective version) {
  d_.changes.Submit([this, version = std::move(version)](ChangeQueue::Finished finished) {
    if (version.seq() <= cursor_) {
      d_.upstream.Stored(cursor_);  // stored already (sent again after a reconnect)
      finished();
      return;
    }
    if (Status st = Check(version); !st.ok()) {
      spdlog::error("from upstream: {}", st.message());
      d_.upstream.NotStored(version.seq(), st);
      finished();
      return;
    }
    v1::StoredDirective local;
    local.set_seq(d_.index.head_seq() + 1);
    *local.mutable_directive() = version.directive();
    local.set_publisher(version.publisher());
    local.set_upstream_seq(version.seq());
    local.set_addressed_units(
        static_cast<uint32_t>(AddressedUnits(local.directive(), d_.registry).size()));
    StoreWrite write;
    write.directive = local;
    write.cursors.emplace_back(kUpstreamCursor, version.seq());
    const uint64_t upstream_seq = version.seq();
    d_.commits.Commit(std::move(write), [this, local, upstream_seq,
                                         finished = std::move(finished)](const Status& st) {
      if (!st.ok()) {
        spdlog::error("upstream version {} ({}) not stored: {}", upstream_seq,
                      local.directive().id(), st.ToString());
        d_.upstream.NotStored(upstream_seq, st);
        finished();
        return;
      }
      DirectiveState& state = d_.index.Add(local);
      cursor_ = upstream_seq;
      spdlog::info("stored upstream directive {} version {} (upstream {}) as seq {} for {} units",
                   local.directive().id(), local.directive().version(), upstream_seq, local.seq(),
                   local.addressed_units());
      const TimePoint now = d_.clock.Now();
      d_.delivery.FanOut(state, now);
      d_.upstream.Stored(upstream_seq);
      if (d_.documents != nullptr) d_.documents->Want(local.directive());
      finished();
    });
  });
}

}  // namespace flatcast::broker
