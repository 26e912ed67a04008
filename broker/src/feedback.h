// Feedback from the terminals: acknowledgements of each level, ratings and
// answers to return forms.
// Those of one pass of the loop are committed together (group commit) and
// confirmed only once durable; a batch that could not be stored is not
// confirmed, so the terminals send it again. Confirmations are held back
// while acknowledgements keep arriving and sent per terminal together.
// Owned by the broker's event loop.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "connections.h"
#include "directive_index.h"
#include "flatcast.pb.h"
#include "flatcast/log_throttle.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

class Feedback {
 public:
  Feedback(const Registry& registry, const Clock& clock, DirectiveIndex& index,
           Connections& connections, CommitPath& commits, BrokerMetrics& metrics)
      : registry_(registry), clock_(clock), index_(index), connections_(connections),
        commits_(commits), metrics_(metrics) {}

  // Forgets the stored ratings (before they are recovered again).
  void ClearRatings() { ratings_.clear(); }
  // A stored rating's rated time, from recovery.
  void RestoreRating(uint64_t seq, std::string unit_code, TimePoint rated) {
    ratings_[{seq, std::move(unit_code)}] = rated;
  }

  // Forgets the stored answers to return forms (before they are recovered).
  void ClearReturns() { returns_.clear(); }
  // A unit's stored answer to a version's form, from recovery (each
  // revision, in revision order).
  void RestoreReturn(uint64_t seq, std::string unit_code, const google::protobuf::Timestamp& answered,
                     uint32_t revision) {
    returns_[{seq, std::move(unit_code)}].push_back({AnsweredKey(answered), revision});
  }

  // Takes an acknowledgement, rating or answer from the connection `routing` into
  // this pass's batch, or confirms it again when it is durable already.
  // An error says why it is refused (nothing is stored then).
  Status OnAck(const std::string& routing, const v1::Ack& ack);
  Status OnRating(const std::string& routing, const v1::Rating& rating);
  // An answer is checked against the version's form (return_form.h) and
  // stored as the unit's next revision; the same answer again (its
  // `answered` time) is confirmed again, not stored twice.
  Status OnReturn(const std::string& routing, v1::ReturnAnswer answer);

  // Commits this pass's batch.
  void Flush();
  // Sends the confirmations waiting, once acknowledgements have paused
  // (`input_seen` false) or the oldest has waited kConfirmMaxDelay.
  void MaybeConfirm(bool input_seen, TimePoint now);
  bool confirmations_waiting() const { return !confirms_.empty(); }

 private:
  struct PendingAck {
    AckEntry entry;
    std::string routing;
    uint32_t unit_index;
  };
  struct PendingRating {
    RatingEntry entry;
    std::string routing;
  };
  struct PendingReturn {
    ReturnEntry entry;
    std::string routing;
  };
  // An answer's `answered` time as sent (not through TimePoint, which
  // saturates): what identifies it.
  using Answered = std::pair<int64_t, int32_t>;
  static Answered AnsweredKey(const google::protobuf::Timestamp& t) { return {t.seconds(), t.nanos()}; }
  struct StoredReturn {
    Answered answered;
    uint32_t revision = 0;
  };
  using AckKey = std::tuple<uint64_t, uint32_t, int>;  // (seq, unit, level)
  using RatingKey = std::tuple<uint64_t, std::string, int64_t>;  // (seq, unit, rated µs)
  static RatingKey KeyOf(const RatingEntry& e);

  void Stored(std::vector<PendingAck>& acks, std::vector<PendingRating>& ratings,
              std::vector<PendingReturn>& returns, TimePoint durable);
  void QueueAckConfirm(const std::string& routing, uint64_t seq, v1::AckLevel level);
  void QueueRatingConfirm(const std::string& routing, uint64_t seq,
                          const google::protobuf::Timestamp& rated);
  void QueueReturnConfirm(const std::string& routing, uint64_t seq,
                          const google::protobuf::Timestamp& answered, uint32_t revision);

  const Registry& registry_;
  const Clock& clock_;
  DirectiveIndex& index_;
  Connections& connections_;
  CommitPath& commits_;
  BrokerMetrics& metrics_;

  std::vector<PendingAck> acks_;  // this pass
  std::vector<PendingRating> ratings_batch_;
  // Taken and not yet durable (this pass and commits in flight): a second
  // copy is neither stored nor confirmed twice.
  std::set<AckKey> acks_in_flight_;
  LogThrottle not_stored_log_{std::chrono::seconds(10)};
  std::set<RatingKey> ratings_in_flight_;
  // The rated time of each unit's stored rating, by (seq, unit code): a
  // rating sent again is confirmed, not stored twice.
  std::map<std::pair<uint64_t, std::string>, TimePoint> ratings_;
  std::vector<PendingReturn> returns_batch_;  // this pass
  // Each unit's stored answers by (seq, unit code), in revision order (an
  // answer sent again, even an older one after its correction, is
  // confirmed with its own revision), and the answers being stored: one at
  // a time per unit and version, so revisions follow one another (a second
  // one waits for the terminal to send it again).
  std::map<std::pair<uint64_t, std::string>, std::vector<StoredReturn>> returns_;
  std::set<std::pair<uint64_t, std::string>> returns_in_flight_;
  // Confirmations not sent yet, by routing id, and when the oldest was queued.
  std::unordered_map<std::string, v1::Confirmations> confirms_;
  TimePoint confirms_since_{};
};

}  // namespace flatcast::broker
