// The public side of each directive: its PublicRecord (held, released,
// cancelled), the holds waiting for their release time, the releases
// themselves, and the feed snapshot of what is public. A release that could
// not be stored stays held and is tried again; it is never lost.
// Owned by the broker's event loop.
#pragma once

#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "change_queue.h"
#include "directive_index.h"
#include "flatcast.pb.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/broker/public_feed.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

class PublicRelease {
 public:
  // `feed` may be null (no public feed).
  PublicRelease(const Registry& registry, const Clock& clock, DirectiveIndex& index,
                CommitPath& commits, ChangeQueue& changes, FeedSink* feed, BrokerMetrics& metrics)
      : registry_(registry), clock_(clock), index_(index), commits_(commits), changes_(changes),
        feed_(feed), metrics_(metrics) {}

  // Forgets every record (before they are recovered again).
  void Clear();
  // Public directives whose release is still ahead.
  size_t held() const { return holds_.size(); }
  // The record of directive `id`; nullptr when there is none.
  const v1::PublicRecord* Find(const std::string& id) const;
  // Takes a durable record (a publish, a lifecycle change, a release, or
  // one recovered from the store).
  void Set(const v1::PublicRecord& record);
  const std::unordered_map<std::string, v1::PublicRecord>& records() const { return records_; }

  // Releases every hold that has fallen due, one change at a time; after a
  // restart that includes those that fell due while the broker was down,
  // recorded as late.
  void ReleaseDue(TimePoint now);
  // Publishes a new feed snapshot if something public changed since the last.
  void FlushFeed();

 private:
  void Release(const std::string& id, TimePoint now, ChangeQueue::Finished finished);

  const Registry& registry_;
  const Clock& clock_;
  DirectiveIndex& index_;
  CommitPath& commits_;
  ChangeQueue& changes_;
  FeedSink* feed_;
  BrokerMetrics& metrics_;
  std::unordered_map<std::string, v1::PublicRecord> records_;  // by directive id
  std::set<std::pair<TimePoint, std::string>> holds_;         // (release_at, id) of HELD ones
  std::unordered_set<std::string> releasing_;                 // submitted, not finished
  TimePoint retry_after_{};  // a release failed: the next try waits until then
  bool feed_changed_ = true;
  uint64_t feed_generation_ = 0;
};

}  // namespace flatcast::broker
