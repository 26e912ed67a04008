#include "publishing.h"

#include <spdlog/spdlog.h>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/signing.h"
#include "public_hold.h"
#include "replies.h"

namespace flatcast::broker {

namespace {

// What a publisher is told when a change could not be committed.
std::string NotStored(const std::string& what, const Status& st) {
  if (st.code() == Status::Code::kNoSpace) {
    return what + " not stored, nothing changed or was sent: " + st.message();
  }
  if (st.code() == Status::Code::kUnavailable) {
    return what + " not confirmed, nothing was sent: " + st.message() +
           "; a retry with the same idempotency key is answered as if it had been sent once";
  }
  return what + " not stored, nothing changed or was sent: " + st.message() +
         " (retrying with the same idempotency key is safe)";
}

}  // namespace

void Publishing::Answer(const std::string& routing, const Payload& reply) {
  (void)d_.connections.Reply(routing, reply, d_.clock.Now());
}

void Publishing::Refuse(const std::string& routing, uint64_t corr, v1::ErrorCode code,
                        std::string_view message) {
  d_.metrics.RequestRefused(code);
  Answer(routing, ErrorReply(corr, code, message));
}

v1::StoredDirective Publishing::NextVersion(v1::Directive d, const std::string& idempotency_key,
                                            const std::string& publisher) const {
  v1::StoredDirective stored;
  stored.set_seq(d_.index.head_seq() + 1);
  *stored.mutable_directive() = std::move(d);
  stored.set_idempotency_key(idempotency_key);
  stored.set_publisher(publisher);
  stored.set_addressed_units(
      static_cast<uint32_t>(AddressedUnits(stored.directive(), d_.registry).size()));
  return stored;
}

Result<const Publisher*> Publishing::FindPublisher(const std::string& name) const {
  if (d_.publishers.open()) return static_cast<const Publisher*>(nullptr);
  const Publisher* publisher = d_.publishers.Find(name);
  if (publisher == nullptr) {
    return Status::NotRegistered("publisher \"" + name + "\" is not registered");
  }
  return publisher;
}

Status Publishing::CheckSignature(const v1::Directive& d, const std::string& publisher) const {
  if (d_.keys == nullptr) return Status::Ok();
  if (!d.has_signature() || d.signature().key_id().empty()) {
    return Status::InvalidArgument(
        "the directive is not signed; this broker accepts only directives signed with a "
        "registered publisher key (--signing-key)");
  }
  auto key = VerifyDirectiveSignature(d, *d_.keys);
  if (!key.ok()) {
    if (key.status().code() == Status::Code::kNotFound) {
      return Status::PermissionDenied("signature refused: " + key.status().message() +
                                      " (not in the key registry)");
    }
    return Status::PermissionDenied("signature refused: " + key.status().message());
  }
  if (key->subject != publisher) {
    return Status::PermissionDenied("signature refused: signing key " + key->key_id +
                                    " belongs to publisher \"" + key->subject + "\", not \"" +
                                    publisher + "\"");
  }
  if (d_.index.HasSignature(d.signature().signature())) {
    return Status::PermissionDenied(
        "replay refused: a stored directive already carries this signature (a new directive "
        "or amendment needs a new signature; a retry must reuse its idempotency key)");
  }
  return Status::Ok();
}

template <typename Request>
void Publishing::Enqueue(const std::string& routing, uint64_t corr, Request req, Decide<Request> decide) {
  d_.changes.Submit([this, routing, corr, req = std::move(req), decide](ChangeQueue::Finished done) {
    (this->*decide)(routing, corr, req, std::move(done));
  });
}

Status Publishing::CheckAttachmentsStored(const v1::Directive& d) const {
  if (d.attachments_size() == 0) return Status::Ok();
  if (d_.attachments == nullptr) return Status::InvalidArgument("this broker stores no attached documents");
  return d_.attachments->CheckStored(d);
}

void Publishing::OnPublish(const std::string& routing, uint64_t corr, v1::PublishRequest req) {
  Enqueue(routing, corr, std::move(req), &Publishing::Publish);
}

void Publishing::Publish(const std::string& routing, uint64_t corr, const v1::PublishRequest& req,
                         ChangeQueue::Finished finished) {
  auto refuse = [&](const Status& st) {
    spdlog::warn("refused publish from \"{}\": {}", req.publisher(), st.message());
    Refuse(routing, corr, ErrorCodeOf(st), st.message());
    finished();
  };
  if (!req.idempotency_key().empty()) {
    if (const DirectiveState* seen = d_.index.WithIdempotencyKey(req.idempotency_key())) {
      Answer(routing, ReceiptReply(corr, seen->stored, /*duplicate=*/true));
      finished();
      return;
    }
  }
  v1::Directive d = req.directive();
  if (!d.id().empty()) return refuse(Status::InvalidArgument("id is assigned by the broker; leave it empty"));
  if (d.has_sent()) return refuse(Status::InvalidArgument("sent is set by the broker; leave it empty"));
  if (d.changes_size() > 0) {
    return refuse(Status::InvalidArgument("changes are described by the broker; leave them empty"));
  }
  if (Status st = CheckSignature(d, req.publisher()); !st.ok()) return refuse(st);
  if (Status st = ValidateDirective(d, d_.registry); !st.ok()) {
    return refuse(Status::InvalidArgument(st.message()));
  }
  if (Status st = CheckAttachmentsStored(d); !st.ok()) return refuse(st);
  for (const auto& ref : d.references()) {
    if (d_.index.Latest(ref) == nullptr) {
      return refuse(Status::InvalidArgument("referenced directive " + ref + " is unknown"));
    }
  }
  Result<const Publisher*> registered = FindPublisher(req.publisher());
  if (!registered.ok()) return refuse(registered.status());
  const Publisher* publisher = *registered;
  if (publisher != nullptr) {
    if (d.issuer_unit() != publisher->unit || d.issuer_department() != publisher->department) {
      return refuse(Status::PermissionDenied(
          "publisher \"" + publisher->name + "\" publishes for " + publisher->unit + " " +
          publisher->department + ", not " + d.issuer_unit() + " " + d.issuer_department()));
    }
  }
  const TimePoint now = d_.clock.Now();
  if (Status st = CheckTimesAhead(d, now); !st.ok()) return refuse(st);
  v1::PublicRecord record;
  std::vector<v1::LifecycleEvent> events;
  if (Status st = DecideRelease(req, publisher, now, d_.public_lead_time, d, record, events);
      !st.ok()) {
    return refuse(st);
  }
  std::string day_key =
      d.issuer_unit() + "-" + d.issuer_department() + "-" + FormatTime(now).substr(0, 10);
  uint32_t daily = d_.index.Counter(day_key) + 1;
  d.set_id(MakeDirectiveId(d.issuer_unit(), d.issuer_department(), now, daily));
  *d.mutable_sent() = ToTimestamp(now);
  d.set_version(1);
  d.set_msg_type(v1::ALERT);
  d.set_format_version(kDirectiveFormatVersion);
  if (!d.has_created()) *d.mutable_created() = d.sent();

  v1::StoredDirective stored = NextVersion(std::move(d), req.idempotency_key(), req.publisher());
  record.set_directive_id(stored.directive().id());
  record.set_latest_seq(stored.seq());
  record.set_latest_version(1);
  record.set_publisher(req.publisher());
  *record.mutable_first_sent() = stored.directive().sent();
  for (auto& e : events) Stamp(e, stored, now, req.publisher());
  StoreWrite write;
  write.directive = stored;
  write.counters.emplace_back(day_key, daily);
  write.public_records.push_back(record);
  write.events = std::move(events);
  d_.commits.Commit(std::move(write), [this, routing, corr, stored, record, day_key, daily,
                                       publisher_name = req.publisher(),
                                       finished = std::move(finished)](const Status& st) {
    if (!st.ok()) {
      spdlog::error("directive from \"{}\" not stored: {}", publisher_name, st.ToString());
      Refuse(routing, corr, ErrorCodeOf(st), NotStored("directive", st));
      finished();
      return;
    }
    d_.index.SetCounter(day_key, daily);
    d_.metrics.Published();
    DirectiveState& state = d_.index.Add(stored);
    d_.public_side.Set(record);
    spdlog::info("stored directive {} seq {} for {} units ({})", stored.directive().id(),
                 stored.seq(), stored.addressed_units(),
                 record.state() == v1::PublicRecord::HELD
                     ? "public at " + FormatTime(FromTimestamp(record.release_at()))
                     : "internal only");
    Answer(routing, ReceiptReply(corr, state.stored, /*duplicate=*/false));
    d_.delivery.FanOut(state, d_.clock.Now());
    finished();
  });
}

void Publishing::OnLifecycle(const std::string& routing, uint64_t corr, v1::LifecycleRequest req) {
  Enqueue(routing, corr, std::move(req), &Publishing::Change);
}

void Publishing::Change(const std::string& routing, uint64_t corr, const v1::LifecycleRequest& req,
                        ChangeQueue::Finished finished) {
  auto refuse = [&](const Status& st) {
    spdlog::warn("refused {} of {} by \"{}\": {}", v1::LifecycleRequest::Action_Name(req.action()),
                 req.directive_id(), req.publisher(), st.message());
    Refuse(routing, corr, ErrorCodeOf(st), st.message());
    finished();
  };
  const v1::PublicRecord* current = d_.public_side.Find(req.directive_id());
  if (const DirectiveState* relayed = d_.index.Latest(req.directive_id());
      current == nullptr && relayed != nullptr && relayed->stored.upstream_seq() != 0) {
    // At a relay (docs/RELAY.md): the issuer's broker changes it, and
    // releases it to the public, once.
    return refuse(Status::PermissionDenied(
        "directive " + req.directive_id() + " came from this relay's upstream; only the broker "
        "it was published at amends, cancels or releases it"));
  }
  if (current == nullptr) {
    return refuse(Status::NotFound("no directive with id \"" + req.directive_id() + "\""));
  }
  v1::PublicRecord record = *current;
  if (!req.idempotency_key().empty() && d_.index.WithIdempotencyKey(req.idempotency_key())) {
    Answer(routing, LifecycleReply(corr, record));
    finished();
    return;
  }
  Result<const Publisher*> registered = FindPublisher(req.publisher());
  if (!registered.ok()) return refuse(registered.status());
  const Publisher* publisher = *registered;
  if (req.publisher() != record.publisher() && !(publisher != nullptr && publisher->manage_any)) {
    return refuse(Status::PermissionDenied(
        "directive " + req.directive_id() + " was published by \"" + record.publisher() +
        "\"; only its publisher or one with the manage_any right may change it"));
  }
  if (record.state() == v1::PublicRecord::CANCELLED_BEFORE_RELEASE ||
      record.state() == v1::PublicRecord::CANCELLED_AFTER_RELEASE) {
    return refuse(Status::InvalidArgument("directive " + req.directive_id() + " is cancelled"));
  }
  const v1::StoredDirective& latest = d_.index.Find(record.latest_seq())->stored;
  const TimePoint now = d_.clock.Now();
  v1::Directive next;
  v1::LifecycleEvent event;
  auto check_amendment = [&](const v1::Directive& amended) {
    if (Status st = ValidateDirective(amended, d_.registry); !st.ok()) {
      return Status::InvalidArgument(st.message());
    }
    FLATCAST_RETURN_IF_ERROR(CheckAttachmentsStored(amended));
    FLATCAST_RETURN_IF_ERROR(CheckTimesAhead(amended, now));
    return CheckSignature(amended, req.publisher());
  };
  if (req.has_public_release()) {
    if (Status st = CheckInputTime(req.public_release(), "public_release"); !st.ok()) {
      return refuse(st);
    }
    v1::Directive at;
    *at.mutable_public_release() = req.public_release();
    if (Status st = CheckTimesAhead(at, now); !st.ok()) return refuse(st);
  }
  if (Status st = PlanTransition(req, publisher, now, latest.directive(), check_amendment, next,
                                 record, event);
      !st.ok()) {
    return refuse(st);
  }
  const bool public_change = current->state() == v1::PublicRecord::RELEASED;
  event.set_reason(req.reason());
  std::vector<v1::LifecycleEvent> events{event};
  if (next.status() != latest.directive().status()) {
    // An explicit status change (PlanTransition refuses any other) is an
    // event of its own, so the audit log shows when a drill turned real.
    v1::LifecycleEvent changed;
    changed.set_kind(v1::LifecycleEvent::STATUS_CHANGED);
    changed.set_status_from(latest.directive().status());
    changed.set_status_to(next.status());
    changed.set_reason(req.reason());
    events.push_back(std::move(changed));
  }
  if (req.action() != v1::LifecycleRequest::AMEND) next.clear_changes();
  next.set_id(req.directive_id());
  next.set_version(latest.directive().version() + 1);
  if (next.msg_type() != v1::CANCEL) next.set_msg_type(v1::UPDATE);
  *next.mutable_sent() = ToTimestamp(now);
  next.clear_references();
  next.add_references(req.directive_id());
  next.set_format_version(kDirectiveFormatVersion);

  v1::StoredDirective stored =
      NextVersion(std::move(next), req.idempotency_key(), req.publisher());
  record.set_latest_seq(stored.seq());
  record.set_latest_version(stored.directive().version());
  // An amendment or a cancellation of what the public has: the next step
  // of the public stream, its documents signed now.
  if (public_change) d_.public_side.StampPublicChange(record, stored);
  for (auto& e : events) Stamp(e, stored, now, req.publisher());
  StoreWrite w;
  w.directive = stored;
  w.public_records.push_back(record);
  w.events = std::move(events);
  d_.commits.Commit(std::move(w), [this, routing, corr, stored, record, kind = event.kind(),
                                   req, finished = std::move(finished)](const Status& st) {
    if (!st.ok()) {
      spdlog::error("{} of {} not stored: {}", v1::LifecycleRequest::Action_Name(req.action()),
                    req.directive_id(), st.ToString());
      Refuse(routing, corr, ErrorCodeOf(st),
             NotStored(v1::LifecycleRequest::Action_Name(req.action()), st));
      finished();
      return;
    }
    DirectiveState& state = d_.index.Add(stored);
    d_.public_side.Set(record);
    d_.metrics.Lifecycle(req.action());
    spdlog::info("{} {}: version {} seq {}", v1::LifecycleEvent::Kind_Name(kind),
                 req.directive_id(), stored.directive().version(), stored.seq());
    Answer(routing, LifecycleReply(corr, record));
    d_.delivery.FanOut(state, d_.clock.Now());
    finished();
  });
}

}  // namespace flatcast::broker
