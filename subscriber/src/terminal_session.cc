#include "flatcast/subscriber/terminal_session.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/return_form.h"
#include "flatcast/wire.h"

namespace flatcast::subscriber {

namespace {

v1::Envelope NewEnvelope() {
  v1::Envelope envelope;
  envelope.set_protocol_version(wire::kProtocolVersion);
  return envelope;
}

bool HasTime(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

}  // namespace

Result<Tier> ParseUnitCode(std::string_view code) {
  std::optional<Tier> tier = TierOfCode(code);
  if (!tier) {
    return Status::InvalidArgument(fmt::format(
        "unit code \"{}\" is not a GB/T 2260 code (2, 4, 6, 9 or 12 digits, e.g. 520102001001)",
        code));
  }
  return *tier;
}

TerminalSession::TerminalSession(std::string unit_code, Tier tier, InboxStore& inbox, Clock& clock,
                                 SessionListener* listener, SessionOptions options)
    : unit_code_(std::move(unit_code)),
      tier_(tier),
      inbox_(inbox),
      clock_(clock),
      listener_(listener),
      options_(options),
      hello_wait_(options.hello_retry) {}

std::string TerminalSession::Hello() {
  TimePoint now = clock_.Now();
  // Every unanswered Hello doubles the wait before the next one.
  if (last_hello_ && !welcomed_ && !rejected_) {
    hello_wait_ = std::min(hello_wait_ * 2, options_.hello_retry_max);
  }
  last_hello_ = now;
  welcomed_ = false;
  ++counters_.hellos_sent;

  v1::Envelope envelope = NewEnvelope();
  v1::Hello* hello = envelope.mutable_hello();
  hello->set_unit_code(unit_code_);
  hello->set_last_seq(inbox_.last_seq());
  return wire::Encode(envelope);
}

void TerminalSession::OnConnected() {
  ForgetConnection();
  last_repair_.reset();
  // A refused unit keeps its slow retry: a flapping connection must not turn
  // it into a fast one.
  if (!rejected_) {
    last_hello_.reset();
    hello_wait_ = options_.hello_retry;
  }
}

void TerminalSession::OnDisconnected() { ForgetConnection(); }

void TerminalSession::ForgetConnection() {
  welcomed_ = false;
  if (options_.documents != nullptr) options_.documents->LinkDown();
  heartbeat_interval_ = std::chrono::milliseconds(0);
  last_heard_.reset();
  ack_sent_.clear();
  rating_sent_.clear();
  return_sent_.clear();
}

bool TerminalSession::ConnectionLooksDead(TimePoint now) const {
  if (heartbeat_interval_.count() <= 0 || !last_heard_) return false;
  return now - *last_heard_ >= 3 * heartbeat_interval_;
}

bool TerminalSession::NeedsHelloRetry(TimePoint now) const {
  if (welcomed_) return false;
  if (!last_hello_) return true;
  auto wait = rejected_ ? options_.rejected_retry : hello_wait_;
  return now - *last_hello_ >= wait;
}

Status TerminalSession::OnMessage(std::string_view bytes, std::vector<std::string>& out) {
  // Whatever arrives shows that the connection is alive.
  last_heard_ = clock_.Now();
  Result<v1::Envelope> envelope = wire::Decode(bytes);
  if (!envelope.ok()) {
    ++counters_.bad_messages;
    return envelope.status().WithContext("message from broker");
  }
  if (options_.documents != nullptr && options_.shelf != nullptr && DocumentFetcher::IsReply(*envelope)) {
    return HandleDocument(*envelope, out);
  }
  switch (envelope->body_case()) {
    case v1::Envelope::kWelcome:
      return HandleWelcome(envelope->welcome(), out);
    case v1::Envelope::kDeliver:
      return HandleDeliver(envelope->deliver(), out);
    case v1::Envelope::kAckConfirm:
      return HandleAckConfirm(envelope->ack_confirm());
    case v1::Envelope::kHeartbeat:
      return HandleHeartbeat(envelope->heartbeat(), out);
    case v1::Envelope::kError:
      return HandleError(envelope->error());
    case v1::Envelope::kRatingConfirm:
      return HandleRatingConfirm(envelope->rating_confirm());
    case v1::Envelope::kReturnConfirm:
      return HandleReturnConfirm(envelope->return_confirm());
    case v1::Envelope::kConfirmations: {
      for (const v1::AckConfirm& c : envelope->confirmations().acks()) {
        FLATCAST_RETURN_IF_ERROR(HandleAckConfirm(c));
      }
      for (const v1::RatingConfirm& c : envelope->confirmations().ratings()) {
        FLATCAST_RETURN_IF_ERROR(HandleRatingConfirm(c));
      }
      for (const v1::ReturnConfirm& c : envelope->confirmations().returns()) {
        FLATCAST_RETURN_IF_ERROR(HandleReturnConfirm(c));
      }
      return Status::Ok();
    }
    case v1::Envelope::kOverdueReport:
      return HandleOverdue(envelope->overdue_report());
    default:
      ++counters_.bad_messages;
      return Status::InvalidArgument(
          fmt::format("unexpected {} message from broker", wire::BodyName(*envelope)));
  }
}

Status TerminalSession::HandleWelcome(const v1::Welcome& welcome, std::vector<std::string>& out) {
  // An empty code is taken as this unit's: the connection is this unit's alone.
  if (!welcome.unit_code().empty() && welcome.unit_code() != unit_code_) {
    ++counters_.bad_messages;
    return Status::InvalidArgument(fmt::format("welcome for unit \"{}\" received by unit {}",
                                               welcome.unit_code(), unit_code_));
  }
  welcomed_ = true;
  rejected_ = false;
  hello_wait_ = options_.hello_retry;
  unit_name_ = welcome.unit_name();
  heartbeat_interval_ = std::chrono::milliseconds(welcome.heartbeat_interval_ms());
  ++counters_.welcomed;
  if (listener_) listener_->OnWelcome(welcome);
  // The broker knows this connection only from now on; acknowledgements it
  // never confirmed may have been lost with an earlier one.
  for (const PendingAck& ack : inbox_.PendingAcks()) out.push_back(EncodeAck(ack));
  for (const PendingRating& rating : inbox_.PendingRatings()) out.push_back(EncodeRating(rating));
  for (const v1::ReturnAnswer& answer : inbox_.PendingReturns()) out.push_back(EncodeReturn(answer));
  PollDocuments(out);
  return Status::Ok();
}

void TerminalSession::PollDocuments(std::vector<std::string>& out) {
  if (options_.documents == nullptr || options_.shelf == nullptr || !welcomed_) return;
  if (std::optional<std::string> request = options_.documents->Next()) out.push_back(std::move(*request));
}

Status TerminalSession::HandleDocument(const v1::Envelope& reply, std::vector<std::string>& out) {
  const uint64_t completed = options_.documents->counters().completed;
  const uint64_t refused = options_.documents->counters().refused;
  Status st = FetchToShelf(*options_.documents, *options_.shelf, reply);
  if (options_.documents->counters().refused != refused) ++counters_.documents_refused;
  if (options_.documents->counters().completed != completed) {
    ++counters_.documents_kept;
    if (listener_ && reply.has_attachment_chunk()) {
      for (const DocumentProgress& p : options_.documents->Progress()) {
        if (p.doc.sha256 == reply.attachment_chunk().sha256()) listener_->OnDocumentKept(p.doc);
      }
    }
  }
  PollDocuments(out);
  return st;
}

std::string TerminalSession::storage_error() const {
  if (!storage_failing_since_) return "";
  return "since " + FormatTimeSeconds(*storage_failing_since_) + ": " + storage_error_;
}

Status TerminalSession::NotStored(const v1::StoredDirective& stored, const Status& st) {
  ++counters_.store_failures;
  if (!storage_failing_since_) storage_failing_since_ = clock_.Now();
  storage_error_ = st.message();
  const v1::Directive& d = stored.directive();
  return Status::IOError(fmt::format(
      "directive {} v{} (seq {}) not stored, so not acknowledged; the broker sends it again: {}",
      d.id(), d.version(), stored.seq(), st.message()));
}

Status TerminalSession::HandleDeliver(const v1::Deliver& deliver, std::vector<std::string>& out) {
  if (!deliver.has_directive() || !deliver.directive().has_directive()) {
    ++counters_.bad_messages;
    return Status::InvalidArgument("deliver message without a directive");
  }
  ++counters_.deliveries;
  const v1::StoredDirective& stored = deliver.directive();
  const v1::Directive& d = stored.directive();
  if (d.id().empty()) {
    ++counters_.bad_messages;
    return Status::InvalidArgument(
        fmt::format("delivered directive (seq {}) has no id", stored.seq()));
  }
  // A version that no longer addresses this unit (its scope or tiers
  // shrank) withdraws the directive from it: kept, shown as withdrawn,
  // acknowledged as received. Other directives for other units are ignored.
  const bool addressed = IsAddressedTo(d, unit_code_, tier_);
  if (!addressed && !inbox_.Latest(d.id())) {
    ++counters_.not_addressed;
    return Status::InvalidArgument(
        fmt::format("directive {} v{} (seq {}) is not addressed to unit {}; ignored", d.id(),
                    d.version(), stored.seq(), unit_code_));
  }

  if (options_.keys != nullptr) {
    std::optional<TimePoint> sent;
    if (HasTime(d.sent())) sent = FromTimestamp(d.sent());
    Result<KeyRecord> key = VerifyDirectiveSignature(d, *options_.keys, sent);
    if (!key.ok()) {
      ++counters_.bad_signatures;
      return Status::PermissionDenied(
          fmt::format("directive {} v{} (seq {}) refused, not stored and not acknowledged: {}",
                      d.id(), d.version(), stored.seq(), key.status().message()));
    }
  }

  if (inbox_.Contains(d.id(), d.version())) {
    // Stored before: the broker did not get (or did not keep) the ack, so it
    // is sent again, with its first time if it is still pending.
    ++counters_.duplicates;
    if (listener_) listener_->OnDuplicate(stored);
    const PendingAck* pending = inbox_.FindPendingAck(stored.seq(), v1::RECEIVED);
    if (pending) {
      out.push_back(EncodeAck(*pending));
      return Status::Ok();
    }
    PendingAck ack{stored.seq(), d.id(), d.version(), v1::RECEIVED, clock_.Now(), ""};
    if (Status st = inbox_.AddPendingAck(ack); !st.ok()) return NotStored(stored, st);
    storage_failing_since_.reset();
    out.push_back(EncodeAck(ack));
    return Status::Ok();
  }

  // Stored before acknowledged: an ack promises the directive survives.
  // The terminal decides what is withdrawn from it, whatever the delivery
  // says; a copy only when the two differ.
  const bool mismarked = stored.withdrawn() != !addressed;
  v1::StoredDirective corrected;
  if (mismarked) {
    corrected = stored;
    corrected.set_withdrawn(!addressed);
  }
  const v1::StoredDirective& kept = mismarked ? corrected : stored;
  TimePoint now = clock_.Now();
  // Nothing is acknowledged that is not stored: the broker sends it again.
  if (Status st = inbox_.Put(kept); !st.ok()) return NotStored(stored, st);
  PendingAck ack{stored.seq(), d.id(), d.version(), v1::RECEIVED, now, ""};
  if (Status st = inbox_.AddPendingAck(ack); !st.ok()) return NotStored(stored, st);
  storage_failing_since_.reset();
  ++counters_.received;
  if (options_.record_latency && HasTime(d.sent())) {
    latency_seqs_.push_back(stored.seq());
    latencies_us_.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(
            DifferenceSaturating(now, FromTimestamp(d.sent())))
            .count());
  }
  if (!addressed) ++counters_.withdrawn;
  if (listener_) listener_->OnStored(kept);
  out.push_back(EncodeAck(ack));
  if (!addressed) return Status::Ok();  // nothing more to acknowledge
  if (options_.documents != nullptr && options_.shelf != nullptr && d.attachments_size() > 0) {
    WantAttachments(*options_.documents, *options_.shelf, d);
    PollDocuments(out);
  }
  for (v1::AckLevel level : options_.auto_levels) {
    if (level == v1::RECEIVED) continue;
    PendingAck more{stored.seq(), d.id(), d.version(), level, now, ""};
    FLATCAST_RETURN_IF_ERROR(inbox_.AddPendingAck(more));
    out.push_back(EncodeAck(more));
  }
  if (options_.auto_answer && d.has_return_form() && !inbox_.Returned(stored.seq())) {
    Result<OperatorOutcome> answered =
        Return(d.id(), options_.auto_answer(d.return_form(), unit_code_), out);
    if (!answered.ok()) return answered.status().WithContext("answering the return form");
  }
  return Status::Ok();
}

Result<bool> TerminalSession::RecordAck(PendingAck ack, std::vector<std::string>& out) {
  FLATCAST_RETURN_IF_ERROR(inbox_.AddPendingAck(ack));
  if (!welcomed_) return false;
  out.push_back(EncodeAck(ack));
  return true;
}

Result<InboxEntry> TerminalSession::LatestToActOn(std::string_view id, std::string_view verb) const {
  std::optional<InboxEntry> entry = inbox_.Latest(id);
  if (!entry) return Status::NotFound(fmt::format("no directive {} in this terminal's inbox", id));
  if (entry->withdrawn) {
    return Status::InvalidArgument(fmt::format(
        "directive {} was withdrawn from this unit (version {} no longer addresses it); there "
        "is nothing to {}",
        id, entry->version, verb));
  }
  return *entry;
}

Result<OperatorOutcome> TerminalSession::Acknowledge(std::string_view id, v1::AckLevel level,
                                                     std::string note,
                                                     std::vector<std::string>& out) {
  if (level != v1::CONFIRMED && level != v1::READY) {
    return Status::InvalidArgument("an operator acknowledges CONFIRMED or READY");
  }
  Result<InboxEntry> entry = LatestToActOn(id, "acknowledge");
  if (!entry.ok()) return entry.status();
  OperatorOutcome outcome{*entry, false, ""};
  TimePoint now = clock_.Now();
  auto done = [&](v1::AckLevel l) -> std::optional<TimePoint> {
    if (auto at = inbox_.Acknowledged(entry->seq, l)) return at;
    if (const PendingAck* p = inbox_.FindPendingAck(entry->seq, l)) return p->acked;
    return std::nullopt;
  };
  std::vector<std::string> recorded;
  for (v1::AckLevel l : {v1::CONFIRMED, v1::READY}) {
    if (l > level) break;
    if (std::optional<TimePoint> at = done(l)) {
      if (l == level) {
        outcome.what = fmt::format("already {} since {}", v1::AckLevel_Name(l), FormatTimeSeconds(*at));
      }
      continue;
    }
    PendingAck ack{entry->seq, entry->id, entry->version, l, now, l == v1::READY ? note : ""};
    Result<bool> sent = RecordAck(std::move(ack), out);
    if (!sent.ok()) return sent.status();
    outcome.sent = *sent;
    recorded.push_back(v1::AckLevel_Name(l));
  }
  if (!recorded.empty()) {
    outcome.what = fmt::format("{} recorded", fmt::join(recorded, " and "));
  }
  return outcome;
}

Result<OperatorOutcome> TerminalSession::Rate(std::string_view id, uint32_t clarity,
                                              uint32_t feasibility, std::string comment,
                                              std::vector<std::string>& out) {
  for (auto [name, value] : {std::pair{"clarity", clarity}, std::pair{"feasibility", feasibility}}) {
    if (value < 1 || value > 5) {
      return Status::InvalidArgument(fmt::format("{} must be from 1 to 5, not {}", name, value));
    }
  }
  if (comment.size() > 2000) {
    return Status::InvalidArgument(
        fmt::format("the comment is {} bytes; at most 2000 are kept", comment.size()));
  }
  Result<InboxEntry> entry = LatestToActOn(id, "rate");
  if (!entry.ok()) return entry.status();
  PendingRating rating{entry->seq, entry->id, entry->version, clarity, feasibility,
                       std::move(comment), clock_.Now()};
  FLATCAST_RETURN_IF_ERROR(inbox_.AddPendingRating(rating));
  OperatorOutcome outcome{*entry, false,
                          fmt::format("rating recorded (clarity {}, feasibility {})", clarity,
                                      feasibility)};
  if (welcomed_) {
    out.push_back(EncodeRating(rating));
    outcome.sent = true;
  }
  return outcome;
}

Result<OperatorOutcome> TerminalSession::Return(
    std::string_view id, google::protobuf::RepeatedPtrField<v1::FieldValue> values,
    std::vector<std::string>& out) {
  Result<InboxEntry> entry = LatestToActOn(id, "answer");
  if (!entry.ok()) return entry.status();
  if (!entry->form) {
    return Status::InvalidArgument(
        fmt::format("directive {} version {} has no return form", id, entry->version));
  }
  Status valid = NormalizeReturnValues(*entry->form, &values);
  if (!valid.ok()) return valid.WithContext(fmt::format("the answer to the form of {}", id));
  v1::ReturnAnswer answer;
  answer.set_seq(entry->seq);
  answer.set_directive_id(entry->id);
  answer.set_version(entry->version);
  *answer.mutable_values() = std::move(values);
  TimePoint now = clock_.Now();
  // Each answer has its own time: a correction made within the same clock
  // tick as the answer before is moved a microsecond on.
  if (auto last = inbox_.Returned(entry->seq); last && FromTimestamp(last->answer.answered()) >= now) {
    now = FromTimestamp(last->answer.answered()) + std::chrono::microseconds(1);
  }
  for (const v1::ReturnAnswer& pending : inbox_.PendingReturns()) {
    if (pending.seq() == entry->seq && FromTimestamp(pending.answered()) >= now) {
      now = FromTimestamp(pending.answered()) + std::chrono::microseconds(1);
    }
  }
  *answer.mutable_answered() = ToTimestamp(now);
  const bool correction = inbox_.Returned(entry->seq).has_value();
  FLATCAST_RETURN_IF_ERROR(inbox_.AddPendingReturn(answer));
  OperatorOutcome outcome{*entry, false,
                          fmt::format("{} of {} fields recorded",
                                      correction ? "a correction" : "an answer",
                                      answer.values_size())};
  if (welcomed_) {
    out.push_back(EncodeReturn(answer));
    outcome.sent = true;
  }
  return outcome;
}

Status TerminalSession::HandleReturnConfirm(const v1::ReturnConfirm& confirm) {
  TimePoint answered = FromTimestamp(confirm.answered());
  Result<bool> removed = inbox_.RemovePendingReturn(confirm.seq(), answered, confirm.revision());
  if (!removed.ok()) return removed.status();
  return_sent_.erase({confirm.seq(), answered});
  if (*removed) {
    ++counters_.returns_confirmed;
    if (listener_) listener_->OnReturnConfirmed(confirm.seq(), confirm.revision());
  }
  return Status::Ok();
}

std::string TerminalSession::EncodeReturn(const v1::ReturnAnswer& answer) {
  ++counters_.returns_sent;
  return_sent_[{answer.seq(), FromTimestamp(answer.answered())}] = clock_.Now();
  v1::Envelope envelope = NewEnvelope();
  *envelope.mutable_return_answer() = answer;
  return wire::Encode(envelope);
}

Status TerminalSession::HandleRatingConfirm(const v1::RatingConfirm& confirm) {
  TimePoint rated = FromTimestamp(confirm.rated());
  Result<bool> removed = inbox_.RemovePendingRating(confirm.seq(), rated);
  if (!removed.ok()) return removed.status();
  rating_sent_.erase({confirm.seq(), rated});
  if (*removed) {
    ++counters_.ratings_confirmed;
    if (listener_) listener_->OnRatingConfirmed(confirm.seq());
  }
  return Status::Ok();
}

Status TerminalSession::HandleOverdue(const v1::OverdueReport& report) {
  ++counters_.overdue_reports;
  FLATCAST_RETURN_IF_ERROR(inbox_.SetOverdue(report));
  if (listener_) listener_->OnOverdue(report);
  return Status::Ok();
}

Status TerminalSession::HandleAckConfirm(const v1::AckConfirm& confirm) {
  Result<bool> removed = inbox_.RemovePendingAck(confirm.seq(), confirm.level());
  if (!removed.ok()) return removed.status();
  ack_sent_.erase({confirm.seq(), static_cast<int>(confirm.level())});
  // A second confirmation of the same ack is harmless and not counted.
  if (*removed) {
    ++counters_.acks_confirmed;
    if (listener_) listener_->OnAckConfirmed(confirm.seq(), confirm.level());
  }
  return Status::Ok();
}

Status TerminalSession::HandleHeartbeat(const v1::Heartbeat& heartbeat,
                                        std::vector<std::string>& out) {
  ++counters_.heartbeats;
  if (rejected_) return Status::Ok();
  TimePoint now = clock_.Now();
  // A Welcome without an interval still leaves room for a Welcome to arrive
  // before the same repair is tried again.
  std::chrono::milliseconds interval =
      heartbeat_interval_.count() > 0 ? heartbeat_interval_ : options_.hello_retry;
  if (last_repair_ && now - *last_repair_ < interval) return Status::Ok();

  if (!welcomed_) {
    // The broker sends Heartbeats only on a connection that said Hello, and
    // the Welcome goes out first: it was lost.
    if (last_hello_ && now - *last_hello_ >= interval) {
      last_repair_ = now;
      ++counters_.resyncs;
      out.push_back(Hello());
    }
    return Status::Ok();
  }

  std::vector<PendingAck> pending = inbox_.PendingAcks();
  const std::vector<v1::ReturnAnswer> pending_returns = inbox_.PendingReturns();
  if (!pending.empty() || !inbox_.PendingRatings().empty() || !pending_returns.empty()) {
    // An ack still pending an interval after it was sent has lost its way or
    // lost its AckConfirm; the broker confirms a durable ack again.
    size_t before = out.size();
    for (const PendingAck& ack : pending) {
      auto sent = ack_sent_.find({ack.seq, static_cast<int>(ack.level)});
      if (sent != ack_sent_.end() && now - sent->second < interval) continue;
      out.push_back(EncodeAck(ack));
      ++counters_.acks_resent;
    }
    for (const PendingRating& rating : inbox_.PendingRatings()) {
      auto sent = rating_sent_.find({rating.seq, rating.rated});
      if (sent != rating_sent_.end() && now - sent->second < interval) continue;
      out.push_back(EncodeRating(rating));
    }
    for (const v1::ReturnAnswer& answer : pending_returns) {
      auto sent = return_sent_.find({answer.seq(), FromTimestamp(answer.answered())});
      if (sent != return_sent_.end() && now - sent->second < interval) continue;
      out.push_back(EncodeReturn(answer));
    }
    if (out.size() != before) last_repair_ = now;
    // The acks in flight may be what the broker counts as unacknowledged; a
    // Hello waits until they are confirmed.
    return Status::Ok();
  }

  if (heartbeat.unacknowledged() > 0) {
    // Nothing of this unit's own is in flight, yet the broker lacks acks: a
    // delivery was lost. A Hello makes the broker send all of them again.
    last_repair_ = now;
    ++counters_.resyncs;
    out.push_back(Hello());
  }
  return Status::Ok();
}

Status TerminalSession::HandleError(const v1::Error& error) {
  ++counters_.errors;
  std::string code = v1::ErrorCode_Name(error.code());
  if (error.code() == v1::NOT_LEADER) {
    welcomed_ = false;
    redirect_ = error.leader_endpoint();
    return Status::Unavailable(fmt::format("broker is not the leader: {}", error.message()));
  }
  if (error.code() == v1::NOT_REGISTERED || error.code() == v1::FORBIDDEN) {
    rejected_ = true;
    welcomed_ = false;
    return Status::PermissionDenied(
        fmt::format("broker refused unit {}: {} ({})", unit_code_, error.message(), code));
  }
  return Status::Unavailable(fmt::format("broker error {}: {}", code, error.message()));
}

std::string TerminalSession::EncodeAck(const PendingAck& pending) {
  ++counters_.acks_sent;
  ack_sent_[{pending.seq, static_cast<int>(pending.level)}] = clock_.Now();
  v1::Envelope envelope = NewEnvelope();
  v1::Ack* ack = envelope.mutable_ack();
  ack->set_seq(pending.seq);
  ack->set_directive_id(pending.directive_id);
  ack->set_version(pending.version);
  ack->set_level(pending.level);
  *ack->mutable_acked() = ToTimestamp(pending.acked);
  ack->set_note(pending.note);
  return wire::Encode(envelope);
}

std::string TerminalSession::EncodeRating(const PendingRating& pending) {
  ++counters_.ratings_sent;
  rating_sent_[{pending.seq, pending.rated}] = clock_.Now();
  v1::Envelope envelope = NewEnvelope();
  v1::Rating* rating = envelope.mutable_rating();
  rating->set_seq(pending.seq);
  rating->set_directive_id(pending.directive_id);
  rating->set_version(pending.version);
  rating->set_clarity(pending.clarity);
  rating->set_feasibility(pending.feasibility);
  rating->set_comment(pending.comment);
  *rating->mutable_rated() = ToTimestamp(pending.rated);
  return wire::Encode(envelope);
}

}  // namespace flatcast::subscriber
