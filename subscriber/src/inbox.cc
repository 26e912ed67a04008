#include "flatcast/subscriber/inbox.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "flatcast/duration.h"

namespace flatcast::subscriber {

InboxEntry EntryOf(const v1::StoredDirective& stored) {
  const v1::Directive& d = stored.directive();
  InboxEntry entry;
  entry.seq = stored.seq();
  entry.id = d.id();
  entry.version = d.version();
  entry.title = d.title();
  entry.issuer_unit = d.issuer_unit();
  entry.sent = FromTimestamp(d.sent());
  entry.withdrawn = stored.withdrawn();
  if (d.has_return_form()) entry.form = std::make_shared<const v1::ReturnForm>(d.return_form());
  return entry;
}

bool IndexedInbox::Contains(std::string_view id, uint32_t version) const {
  return entries_.count(Key(std::string(id), version)) > 0;
}

const PendingAck* IndexedInbox::FindPendingAck(uint64_t seq, v1::AckLevel level) const {
  auto it = state_.pending_acks.find({seq, level});
  return it == state_.pending_acks.end() ? nullptr : &it->second;
}

std::vector<PendingAck> IndexedInbox::PendingAcks() const {
  std::vector<PendingAck> out;
  out.reserve(state_.pending_acks.size());
  for (const auto& [key, ack] : state_.pending_acks) out.push_back(ack);
  return out;
}

std::optional<InboxEntry> IndexedInbox::Latest(std::string_view id) const {
  auto it = entries_.upper_bound(Key(std::string(id), UINT32_MAX));
  if (it == entries_.begin()) return std::nullopt;
  --it;
  if (it->first.first != id) return std::nullopt;
  return it->second;
}

template <typename Change>
Status IndexedInbox::Update(Change&& change) {
  OperatorState before = state_;
  change(state_);
  Status status = Persist();
  if (!status.ok()) state_ = std::move(before);
  return status;
}

Status IndexedInbox::AddPendingAck(const PendingAck& ack) {
  return Update([&](OperatorState& s) { s.pending_acks[{ack.seq, ack.level}] = ack; });
}

Result<bool> IndexedInbox::RemovePendingAck(uint64_t seq, v1::AckLevel level) {
  auto it = state_.pending_acks.find({seq, level});
  if (it == state_.pending_acks.end()) return false;
  Status status = Update([&](OperatorState& s) {
    auto found = s.pending_acks.find({seq, level});
    if (level != v1::RECEIVED) s.acknowledged[{seq, level}] = found->second.acked;
    s.pending_acks.erase(found);
  });
  if (!status.ok()) return status;
  return true;
}

Status IndexedInbox::AddPendingRating(const PendingRating& rating) {
  return Update([&](OperatorState& s) { s.pending_ratings[{rating.seq, rating.rated}] = rating; });
}

Result<bool> IndexedInbox::RemovePendingRating(uint64_t seq, TimePoint rated) {
  if (!state_.pending_ratings.contains({seq, rated})) return false;
  Status status = Update([&](OperatorState& s) {
    s.pending_ratings.erase({seq, rated});
    auto& last = s.rated[seq];
    last = std::max(last, rated);
  });
  if (!status.ok()) return status;
  return true;
}

std::vector<PendingRating> IndexedInbox::PendingRatings() const {
  std::vector<PendingRating> out;
  for (const auto& [key, rating] : state_.pending_ratings) out.push_back(rating);
  return out;
}

std::optional<TimePoint> IndexedInbox::Rated(uint64_t seq) const {
  auto it = state_.rated.find(seq);
  if (it == state_.rated.end()) return std::nullopt;
  return it->second;
}

Status IndexedInbox::AddPendingReturn(const v1::ReturnAnswer& answer) {
  return Update([&](OperatorState& s) {
    s.pending_returns[{answer.seq(), FromTimestamp(answer.answered())}] = answer;
  });
}

Result<bool> IndexedInbox::RemovePendingReturn(uint64_t seq, TimePoint answered,
                                               uint32_t revision) {
  if (!state_.pending_returns.contains({seq, answered})) return false;
  Status status = Update([&](OperatorState& s) {
    auto found = s.pending_returns.find({seq, answered});
    // The latest by its answered time: an older answer confirmed after its
    // correction (sent again) stays behind it.
    auto [it, added] = s.returned.try_emplace(seq);
    const auto& a = found->second.answered();
    const auto& b = it->second.answer.answered();
    if (added || std::pair(a.seconds(), a.nanos()) >= std::pair(b.seconds(), b.nanos())) {
      it->second = {std::move(found->second), revision};
    }
    s.pending_returns.erase(found);
  });
  if (!status.ok()) return status;
  return true;
}

std::vector<v1::ReturnAnswer> IndexedInbox::PendingReturns() const {
  std::vector<v1::ReturnAnswer> out;
  for (const auto& [key, answer] : state_.pending_returns) out.push_back(answer);
  return out;
}

std::optional<ConfirmedReturn> IndexedInbox::Returned(uint64_t seq) const {
  auto it = state_.returned.find(seq);
  if (it == state_.returned.end()) return std::nullopt;
  return it->second;
}

std::optional<TimePoint> IndexedInbox::Acknowledged(uint64_t seq, v1::AckLevel level) const {
  auto it = state_.acknowledged.find({seq, level});
  if (it == state_.acknowledged.end()) return std::nullopt;
  return it->second;
}

Status IndexedInbox::SetOverdue(const v1::OverdueReport& report) {
  return Update([&](OperatorState& s) { s.overdue = report; });
}

std::vector<InboxEntry> IndexedInbox::List() const {
  std::vector<InboxEntry> out;
  out.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) out.push_back(entry);
  std::stable_sort(out.begin(), out.end(),
                   [](const InboxEntry& a, const InboxEntry& b) { return a.seq < b.seq; });
  return out;
}

Status IndexedInbox::CheckNotStored(const v1::Directive& directive) const {
  if (Contains(directive.id(), directive.version())) {
    return Status::AlreadyExists(
        fmt::format("directive {} v{} is stored already", directive.id(), directive.version()));
  }
  return Status::Ok();
}

void IndexedInbox::AddEntry(InboxEntry entry) {
  RaiseLastSeq(entry.seq);
  Key key(entry.id, entry.version);
  entries_.emplace(std::move(key), std::move(entry));
}

void IndexedInbox::RaiseLastSeq(uint64_t seq) { last_seq_ = std::max(last_seq_, seq); }

Status MemoryInbox::Put(const v1::StoredDirective& stored) {
  const v1::Directive& d = stored.directive();
  if (d.id().empty()) return Status::InvalidArgument("directive has no id");
  FLATCAST_RETURN_IF_ERROR(CheckNotStored(d));
  InboxEntry entry;
  if (keep_directives_) {
    entry = EntryOf(stored);
  } else {
    entry.seq = stored.seq();
    entry.id = d.id();
    entry.version = d.version();
    entry.withdrawn = stored.withdrawn();
    if (d.has_return_form()) entry.form = std::make_shared<const v1::ReturnForm>(d.return_form());
  }
  AddEntry(std::move(entry));
  ++put_count_;
  return Status::Ok();
}

}  // namespace flatcast::subscriber
