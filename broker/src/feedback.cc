#include "feedback.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/return_form.h"
#include "replies.h"

namespace flatcast::broker {

namespace {

constexpr size_t kMaxNoteBytes = 1000;
constexpr size_t kMaxCommentBytes = 2000;
// Confirmations wait while acknowledgements keep arriving, at most this long.
constexpr auto kConfirmMaxDelay = std::chrono::seconds(1);

}  // namespace

Feedback::RatingKey Feedback::KeyOf(const RatingEntry& e) {
  auto rated = FromTimestamp(e.record.rated()).time_since_epoch();
  return {e.seq, e.unit_code, std::chrono::duration_cast<std::chrono::microseconds>(rated).count()};
}

namespace {

// From a directive version's sending to `at`, for the latency histogram.
double SecondsSinceSent(const DirectiveState& state, TimePoint at) {
  return std::chrono::duration<double>(
             DifferenceSaturating(at, FromTimestamp(state.stored.directive().sent())))
      .count();
}

}  // namespace

Status Feedback::OnAck(const std::string& routing, const v1::Ack& ack) {
  std::optional<uint32_t> unit_index = connections_.UnitOf(routing);
  if (!unit_index) {
    return Status::NotRegistered("acknowledgement before hello: say which unit you are first");
  }
  const Unit& unit = registry_.unit(*unit_index);
  DirectiveState* state = index_.Find(ack.seq());
  if (state == nullptr) {
    return Status::InvalidArgument("no directive with sequence " + std::to_string(ack.seq()));
  }
  if (ack.directive_id() != state->stored.directive().id()) {
    return Status::InvalidArgument("sequence " + std::to_string(ack.seq()) + " is directive " +
                                   state->stored.directive().id() + ", not " + ack.directive_id());
  }
  if (!state->Addresses(*unit_index, unit.tier)) {
    if (!state->Withdraws(*unit_index)) {
      return Status::InvalidArgument("directive " + ack.directive_id() +
                                     " is not addressed to unit " + unit.code);
    }
    if (ack.level() != v1::RECEIVED) {
      return Status::InvalidArgument(fmt::format(
          "version {} of directive {} no longer addresses unit {}; it is acknowledged as "
          "received only",
          state->stored.directive().version(), ack.directive_id(), unit.code));
    }
  }
  if (ack.level() < v1::RECEIVED || ack.level() > v1::READY) {
    return Status::InvalidArgument("unknown acknowledgement level");
  }
  if (ack.has_acked()) FLATCAST_RETURN_IF_ERROR(CheckInputTime(ack.acked(), "acked"));
  if (ack.note().size() > kMaxNoteBytes) {
    return Status::InvalidArgument(fmt::format("the note is {} bytes; at most {} are kept",
                                               ack.note().size(), kMaxNoteBytes));
  }
  if (state->Has(ack.level(), *unit_index)) {
    // Durable already: the first time stands.
    QueueAckConfirm(routing, ack.seq(), ack.level());
    return Status::Ok();
  }
  if (!acks_in_flight_.insert({ack.seq(), *unit_index, ack.level()}).second) {
    return Status::Ok();  // being stored; confirmed once durable
  }
  PendingAck p{{ack.seq(), unit.code, ack.level(), {}}, routing, *unit_index};
  *p.entry.record.mutable_acked() = ack.acked();
  *p.entry.record.mutable_stored() = ToTimestamp(clock_.Now());
  p.entry.record.set_version(ack.version());
  p.entry.record.set_note(ack.note());
  acks_.push_back(std::move(p));
  return Status::Ok();
}

Status Feedback::OnRating(const std::string& routing, const v1::Rating& rating) {
  std::optional<uint32_t> unit_index = connections_.UnitOf(routing);
  if (!unit_index) {
    return Status::NotRegistered("rating before hello: say which unit you are first");
  }
  const Unit& unit = registry_.unit(*unit_index);
  const DirectiveState* state = index_.Find(rating.seq());
  if (state == nullptr || state->stored.directive().id() != rating.directive_id()) {
    return Status::InvalidArgument(
        fmt::format("no directive {} with sequence {}", rating.directive_id(), rating.seq()));
  }
  if (!state->Addresses(*unit_index, unit.tier) || !state->Received(*unit_index)) {
    return Status::InvalidArgument(
        fmt::format("unit {} has not received directive {} (seq {}); a unit rates what it "
                    "received",
                    unit.code, rating.directive_id(), rating.seq()));
  }
  for (auto [name, value] : {std::pair{"clarity", rating.clarity()},
                             std::pair{"feasibility", rating.feasibility()}}) {
    if (value < 1 || value > 5) {
      return Status::InvalidArgument(fmt::format("{} must be from 1 to 5, not {}", name, value));
    }
  }
  FLATCAST_RETURN_IF_ERROR(CheckInputTime(rating.rated(), "rated"));
  if (rating.comment().size() > kMaxCommentBytes) {
    return Status::InvalidArgument(fmt::format("the comment is {} bytes; at most {} are kept",
                                               rating.comment().size(), kMaxCommentBytes));
  }
  TimePoint rated = FromTimestamp(rating.rated());
  if (auto it = ratings_.find({rating.seq(), unit.code}); it != ratings_.end() && it->second == rated) {
    QueueRatingConfirm(routing, rating.seq(), rating.rated());  // the same rating again
    return Status::Ok();
  }
  PendingRating p{{rating.seq(), unit.code, {}}, routing};
  p.entry.record.set_clarity(rating.clarity());
  p.entry.record.set_feasibility(rating.feasibility());
  p.entry.record.set_comment(rating.comment());
  *p.entry.record.mutable_rated() = rating.rated();
  *p.entry.record.mutable_stored() = ToTimestamp(clock_.Now());
  p.entry.record.set_version(rating.version());
  if (!ratings_in_flight_.insert(KeyOf(p.entry)).second) return Status::Ok();  // being stored
  ratings_batch_.push_back(std::move(p));
  return Status::Ok();
}

Status Feedback::OnReturn(const std::string& routing, v1::ReturnAnswer answer) {
  std::optional<uint32_t> unit_index = connections_.UnitOf(routing);
  if (!unit_index) {
    return Status::NotRegistered("answer before hello: say which unit you are first");
  }
  const Unit& unit = registry_.unit(*unit_index);
  const DirectiveState* state = index_.Find(answer.seq());
  if (state == nullptr || state->stored.directive().id() != answer.directive_id()) {
    return Status::InvalidArgument(
        fmt::format("no directive {} with sequence {}", answer.directive_id(), answer.seq()));
  }
  const v1::Directive& d = state->stored.directive();
  if (!d.has_return_form()) {
    return Status::InvalidArgument(fmt::format("directive {} version {} has no return form",
                                               d.id(), d.version()));
  }
  // Received: stored, or being stored (a commit before this answer's, or
  // this one).
  const bool received = state->Received(*unit_index) ||
                        acks_in_flight_.count({answer.seq(), *unit_index, v1::RECEIVED}) > 0;
  if (!state->Addresses(*unit_index, unit.tier) || !received) {
    return Status::InvalidArgument(
        fmt::format("unit {} has not received directive {} (seq {}); a unit answers the form of "
                    "what it received",
                    unit.code, answer.directive_id(), answer.seq()));
  }
  if (!answer.has_answered()) return Status::InvalidArgument("answered is not set");
  FLATCAST_RETURN_IF_ERROR(CheckInputTime(answer.answered(), "answered"));
  if (answer.values_size() == 0) return Status::InvalidArgument("the answer has no value");
  Status valid = NormalizeReturnValues(d.return_form(), answer.mutable_values());
  if (!valid.ok()) {
    return valid.WithContext(fmt::format("the answer to the form of {}", d.id()));
  }
  const Answered answered = AnsweredKey(answer.answered());
  const std::pair<uint64_t, std::string> key{answer.seq(), unit.code};
  uint32_t revision = 1;
  if (auto it = returns_.find(key); it != returns_.end() && !it->second.empty()) {
    for (const StoredReturn& stored : it->second) {
      if (stored.answered == answered) {  // an answer stored already, sent again
        QueueReturnConfirm(routing, answer.seq(), answer.answered(), stored.revision);
        return Status::Ok();
      }
    }
    revision = it->second.back().revision + 1;
  }
  // Being stored: this one is confirmed once it is, or (another answer)
  // stored when the terminal sends it again.
  if (!returns_in_flight_.insert(key).second) return Status::Ok();
  PendingReturn p{{answer.seq(), unit.code, {}}, routing};
  *p.entry.record.mutable_values() = std::move(*answer.mutable_values());
  *p.entry.record.mutable_answered() = answer.answered();
  *p.entry.record.mutable_stored() = ToTimestamp(clock_.Now());
  p.entry.record.set_version(d.version());
  p.entry.record.set_revision(revision);
  returns_batch_.push_back(std::move(p));
  return Status::Ok();
}

void Feedback::Flush() {
  if (acks_.empty() && ratings_batch_.empty() && returns_batch_.empty()) return;
  StoreWrite batch;
  batch.acks.reserve(acks_.size());
  for (const PendingAck& p : acks_) batch.acks.push_back(p.entry);
  for (const PendingRating& p : ratings_batch_) batch.ratings.push_back(p.entry);
  for (const PendingReturn& p : returns_batch_) batch.returns.push_back(p.entry);
  commits_.Commit(std::move(batch), [this, acks = std::move(acks_),
                                     ratings = std::move(ratings_batch_),
                                     returns = std::move(returns_batch_)](const Status& st) mutable {
    if (!st.ok()) {
      // Not confirmed, so the terminals send them again.
      if (auto held = not_stored_log_.Admit(st.message(), clock_.Now())) {
        spdlog::error("{} acknowledgements, {} ratings and {} answers not stored (terminals send "
                      "them again){}: {}",
                      acks.size(), ratings.size(), returns.size(),
                      *held > 0 ? fmt::format("; {} more batches since the last report", *held) : "",
                      st.ToString());
      }
      for (const PendingAck& p : acks) {
        acks_in_flight_.erase({p.entry.seq, p.unit_index, p.entry.level});
      }
      for (const PendingRating& p : ratings) ratings_in_flight_.erase(KeyOf(p.entry));
      for (const PendingReturn& p : returns) {
        returns_in_flight_.erase({p.entry.seq, p.entry.unit_code});
      }
      return;
    }
    not_stored_log_.ClearAll();
    Stored(acks, ratings, returns, clock_.Now());
  });
  acks_.clear();
  ratings_batch_.clear();
  returns_batch_.clear();
}

void Feedback::Stored(std::vector<PendingAck>& acks, std::vector<PendingRating>& ratings,
                      std::vector<PendingReturn>& returns, TimePoint durable) {
  for (const PendingReturn& p : returns) {
    std::pair<uint64_t, std::string> key{p.entry.seq, p.entry.unit_code};
    returns_in_flight_.erase(key);
    returns_[std::move(key)].push_back(
        {AnsweredKey(p.entry.record.answered()), p.entry.record.revision()});
    metrics_.Returned();
    QueueReturnConfirm(p.routing, p.entry.seq, p.entry.record.answered(), p.entry.record.revision());
  }
  for (const PendingAck& p : acks) {
    acks_in_flight_.erase({p.entry.seq, p.unit_index, p.entry.level});
    if (DirectiveState* state = index_.Find(p.entry.seq)) {
      state->Mark(p.entry.level, p.unit_index);
      if (p.entry.level == v1::RECEIVED) state->last_ack_stored = durable;
      metrics_.Acknowledged(p.entry.level, SecondsSinceSent(*state, durable));
    }
    QueueAckConfirm(p.routing, p.entry.seq, p.entry.level);
  }
  for (const PendingRating& p : ratings) {
    ratings_in_flight_.erase(KeyOf(p.entry));
    ratings_[{p.entry.seq, p.entry.unit_code}] = FromTimestamp(p.entry.record.rated());
    metrics_.Rated();
    QueueRatingConfirm(p.routing, p.entry.seq, p.entry.record.rated());
  }
}

void Feedback::QueueAckConfirm(const std::string& routing, uint64_t seq, v1::AckLevel level) {
  if (confirms_.empty()) confirms_since_ = clock_.Now();
  v1::AckConfirm* c = confirms_[routing].add_acks();
  c->set_seq(seq);
  c->set_level(level);
}

void Feedback::QueueRatingConfirm(const std::string& routing, uint64_t seq,
                                  const google::protobuf::Timestamp& rated) {
  if (confirms_.empty()) confirms_since_ = clock_.Now();
  v1::RatingConfirm* c = confirms_[routing].add_ratings();
  c->set_seq(seq);
  *c->mutable_rated() = rated;
}

void Feedback::QueueReturnConfirm(const std::string& routing, uint64_t seq,
                                  const google::protobuf::Timestamp& answered, uint32_t revision) {
  if (confirms_.empty()) confirms_since_ = clock_.Now();
  v1::ReturnConfirm* c = confirms_[routing].add_returns();
  c->set_seq(seq);
  *c->mutable_answered() = answered;
  c->set_revision(revision);
}

void Feedback::MaybeConfirm(bool input_seen, TimePoint now) {
  if (confirms_.empty() || (input_seen && now - confirms_since_ < kConfirmMaxDelay)) return;
  // One message per terminal: its only confirmation as AckConfirm or
  // RatingConfirm, or several as Confirmations.
  v1::Envelope env = NewEnvelope();
  for (auto& [routing, pending] : confirms_) {
    const int total = pending.acks_size() + pending.ratings_size() + pending.returns_size();
    if (total == 1 && pending.acks_size() == 1) {
      *env.mutable_ack_confirm() = pending.acks(0);
    } else if (total == 1 && pending.ratings_size() == 1) {
      *env.mutable_rating_confirm() = pending.ratings(0);
    } else if (total == 1 && pending.returns_size() == 1) {
      *env.mutable_return_confirm() = pending.returns(0);
    } else {
      *env.mutable_confirmations() = std::move(pending);
    }
    connections_.Reply(routing, Encoded(env), now);
  }
  confirms_.clear();
}

}  // namespace flatcast::broker
