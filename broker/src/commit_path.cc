#include "flatcast/broker/commit_path.h"

#include <spdlog/spdlog.h>

namespace flatcast::broker {

void StoreCommitPath::Commit(StoreWrite batch, CommitDone done) {
  if (space_ != nullptr) {
    if (Status room = space_->Admit(batch); !room.ok()) {
      completed_.emplace_back(std::move(done), std::move(room));
      return;
    }
  }
  if (!failure_.empty()) {
    std::string failure = failure_;
    if (Status st = Recover(); !st.ok()) {
      completed_.emplace_back(std::move(done),
                              Status::IOError("the store does not accept writes since a write "
                                              "failed (" + failure + "): " + st.message()));
      return;
    }
  }
  if (late_applied_) {
    // What the caller decided from is older than the store: it reloads first.
    completed_.emplace_back(std::move(done),
                            Status::IOError("not written: the store holds a write whose outcome "
                                            "was not known, which the broker loads first"));
    return;
  }
  const uint64_t commit_seq = store_.heads().commit_seq + 1;
  const uint64_t records = batch.acks.size() + batch.ratings.size() + batch.returns.size() +
                           batch.events.size() +
                           batch.public_records.size() + (batch.directive ? 1 : 0);
  const auto started = std::chrono::steady_clock::now();
  Status written = store_.Write(std::move(batch));
  if (metrics_ != nullptr) {
    if (written.ok()) {
      metrics_->Committed(records, std::chrono::duration<double>(
                                       std::chrono::steady_clock::now() - started)
                                       .count());
    } else {
      metrics_->CommitFailed();
    }
  }
  if (written.ok()) {
    completed_.emplace_back(std::move(done), Status::Ok());
    return;
  }
  spdlog::error("store write {} failed: {}", commit_seq, written.ToString());
  failure_ = written.message();
  if (Status st = Recover(); !st.ok()) {
    unknown_ = commit_seq;
    completed_.emplace_back(
        std::move(done),
        Status::Unavailable("the write failed (" + written.message() +
                            ") and the store has not recovered (" + st.message() +
                            "): whether it was stored is not known until it does"));
    return;
  }
  if (store_.heads().commit_seq >= commit_seq) {
    spdlog::warn("store write {} reported \"{}\" but was applied: it counts as durable",
                 commit_seq, written.message());
    completed_.emplace_back(std::move(done), Status::Ok());
  } else {
    completed_.emplace_back(std::move(done), written);
  }
}

Status StoreCommitPath::Recover() {
  Status recovered = store_.Recover();
  if (!recovered.ok()) {
    if (recovered.message() != recovery_error_.message()) {
      spdlog::error("the store does not accept writes: {} (retrying)", recovered.ToString());
    }
    recovery_error_ = recovered;
    return recovered;
  }
  if (!failure_.empty()) spdlog::info("the store recovered from \"{}\"", failure_);
  recovery_error_ = Status::Ok();
  failure_.clear();
  if (unknown_) {
    if (store_.heads().commit_seq >= *unknown_) {
      spdlog::warn("store write {}, reported as not known, was applied", *unknown_);
      late_applied_ = true;
    }
    unknown_.reset();
  }
  return Status::Ok();
}

void StoreCommitPath::RunCompletions() {
  while (!completed_.empty()) {
    auto [done, status] = std::move(completed_.front());
    completed_.pop_front();
    done(status);
  }
}

void StoreCommitPath::Tick(TimePoint now) {
  if (space_ != nullptr && now >= next_space_check_) {
    next_space_check_ = now + std::chrono::seconds(1);
    std::string why;
    SpaceReserve::Level level = space_->Now(&why);
    if (level != space_level_) {
      if (level == SpaceReserve::Level::kAmple) {
        spdlog::info("store space back: {}; everything is accepted again", why);
      } else {
        spdlog::warn("store space: {}", why);
      }
      space_level_ = level;
    }
    space_why_ = std::move(why);
  }
  if (failure_.empty() || now < next_retry_) return;
  next_retry_ = now + retry_;
  (void)Recover();
}

Status StoreCommitPath::health() const {
  if (!failure_.empty()) {
    return Status::Unavailable("a store write failed (" + failure_ +
                               ") and the store has not recovered: " + recovery_error_.message());
  }
  if (space_level_ != SpaceReserve::Level::kAmple) return Status::NoSpace(space_why_);
  return Status::Ok();
}

}  // namespace flatcast::broker
