// A terminal's inbox: the directives it has stored and the acknowledgements
// the broker has not yet confirmed. TerminalSession reaches storage only
// through InboxStore; MemoryInbox serves tests and the swarm, DirectoryInbox
// (directory_inbox.h) the terminal daemon.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/clock.h"
#include "flatcast/status.h"

namespace flatcast::subscriber {

namespace v1 = ::flatcast::v1;

// An acknowledgement sent to the broker and not yet confirmed durable there.
// Identified by (seq, level), as AckConfirm names it.
struct PendingAck {
  uint64_t seq = 0;
  std::string directive_id;
  uint32_t version = 0;
  v1::AckLevel level = v1::RECEIVED;
  TimePoint acked;  // when the terminal acknowledged, by its own clock

  friend bool operator==(const PendingAck&, const PendingAck&) = default;
};

// One stored directive, as listings show it.
struct InboxEntry {
  uint64_t seq = 0;
  std::string id;
  uint32_t version = 0;
  std::string title;
  std::string issuer_unit;
  TimePoint sent;
};

// Storage of one terminal. Not thread-safe: one TerminalSession owns it.
class InboxStore {
 public:
  virtual ~InboxStore() = default;

  // Highest seq stored so far (0 when empty); what Hello reports.
  virtual uint64_t last_seq() const = 0;
  // True when this version of the directive is stored.
  virtual bool Contains(std::string_view id, uint32_t version) const = 0;
  // Number of stored (id, version) pairs.
  virtual size_t size() const = 0;

  // Stores the directive; when it returns Ok the directive survives a crash.
  // AlreadyExists (and nothing written) when (id, version) is stored already;
  // InvalidArgument for a directive without an id or with an id unfit for
  // storage.
  virtual Status Put(const v1::StoredDirective& stored) = 0;

  // Records an acknowledgement as pending, replacing one with the same
  // (seq, level). Durable when it returns Ok.
  virtual Status AddPendingAck(const PendingAck& ack) = 0;
  // Drops the pending acknowledgement (seq, level); true when there was one,
  // false (and nothing written) when not.
  virtual Result<bool> RemovePendingAck(uint64_t seq, v1::AckLevel level) = 0;
  // The pending acknowledgement (seq, level), or nullptr. The pointer is valid
  // until the next change to the store.
  virtual const PendingAck* FindPendingAck(uint64_t seq, v1::AckLevel level) const = 0;
  // All pending acknowledgements, ordered by (seq, level).
  virtual std::vector<PendingAck> PendingAcks() const = 0;
  virtual size_t pending_ack_count() const = 0;

  // Stored directives ordered by seq.
  virtual std::vector<InboxEntry> List() const = 0;
};

// Summary of a stored directive for listings.
InboxEntry EntryOf(const v1::StoredDirective& stored);

// An inbox in memory. With keep_directives false it remembers only what the
// protocol needs (keys, seq, pending acks), so thousands fit in one process;
// List() then returns entries without title, issuer and sent time.
class MemoryInbox final : public InboxStore {
 public:
  explicit MemoryInbox(bool keep_directives = true) : keep_directives_(keep_directives) {}

  uint64_t last_seq() const override { return last_seq_; }
  bool Contains(std::string_view id, uint32_t version) const override;
  size_t size() const override { return entries_.size(); }
  Status Put(const v1::StoredDirective& stored) override;
  Status AddPendingAck(const PendingAck& ack) override;
  Result<bool> RemovePendingAck(uint64_t seq, v1::AckLevel level) override;
  const PendingAck* FindPendingAck(uint64_t seq, v1::AckLevel level) const override;
  std::vector<PendingAck> PendingAcks() const override;
  size_t pending_ack_count() const override { return pending_.size(); }
  std::vector<InboxEntry> List() const override;

  // Number of Put calls that stored something; lets tests see that a
  // duplicate delivery was not stored twice.
  size_t put_count() const { return put_count_; }

 private:
  using Key = std::pair<std::string, uint32_t>;  // (id, version)

  bool keep_directives_;
  uint64_t last_seq_ = 0;
  size_t put_count_ = 0;
  std::map<Key, InboxEntry> entries_;
  std::map<std::pair<uint64_t, int>, PendingAck> pending_;  // by (seq, level)
};

}  // namespace flatcast::subscriber
