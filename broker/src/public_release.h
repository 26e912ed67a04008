// The public side of each directive: its PublicRecord (held, released,
// cancelled), the holds waiting for their release time, the releases
// themselves, and the public stream's positions (public_seq); what is
// public goes to the public servers (public_servers.h). A release that could
// not be stored stays held and is tried again; it is never lost.
// Owned by the broker's event loop.
#pragma once

#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "change_queue.h"
#include "public_servers.h"
#include "directive_index.h"
#include "flatcast.pb.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

class PublicRelease {
 public:
  PublicRelease(const Clock& clock, DirectiveIndex& index, CommitPath& commits,
                ChangeQueue& changes, PublicServers& servers, BrokerMetrics& metrics)
      : clock_(clock), index_(index), commits_(commits), changes_(changes), servers_(servers),
        metrics_(metrics) {}

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
  // The public_seq the next public change takes (one change at a time:
  // the change queue's).
  uint64_t NextPublicSeq() const { return public_head_ + 1; }
  // Makes `record` (changed publicly; `latest` its latest version) the next
  // step of the public stream: the next public_seq and its documents,
  // rendered and signed now, to be stored with it.
  void StampPublicChange(v1::PublicRecord& record, const v1::StoredDirective& latest) const;
  // Records that became public before public_seq was kept get one, in the
  // order of their release, stored as one change (after recovery).
  void NumberUnnumbered();
  // Hands the documents of what changed publicly to the public servers and
  // flushes them.
  void FlushFeed();

 private:
  void Release(const std::string& id, TimePoint now, ChangeQueue::Finished finished);

  const Clock& clock_;
  DirectiveIndex& index_;
  CommitPath& commits_;
  ChangeQueue& changes_;
  PublicServers& servers_;
  BrokerMetrics& metrics_;
  std::unordered_map<std::string, v1::PublicRecord> records_;  // by directive id
  std::set<std::pair<TimePoint, std::string>> holds_;         // (release_at, id) of HELD ones
  std::unordered_set<std::string> releasing_;                 // submitted, not finished
  TimePoint retry_after_{};  // a release failed: the next try waits until then
  std::unordered_set<std::string> feed_changed_;  // directive ids changed publicly
  uint64_t public_head_ = 0;                       // the highest public_seq
  bool numbering_ = false;
};

}  // namespace flatcast::broker
