// A terminal's inbox: the directives it has stored and the acknowledgements
// the broker has not yet confirmed. TerminalSession reaches storage only
// through InboxStore; MemoryInbox serves tests and the swarm, DirectoryInbox
// (directory_inbox.h) the terminal daemon.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
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

// The index both stores keep in memory: the stored (id, version) pairs with
// their entries, the highest seq, and the pending acknowledgements. It answers
// every read of InboxStore; a subclass implements the writes, making each
// change durable its own way and recording it here through the protected
// methods.
class IndexedInbox : public InboxStore {
 public:
  uint64_t last_seq() const override { return last_seq_; }
  bool Contains(std::string_view id, uint32_t version) const override;
  size_t size() const override { return entries_.size(); }
  const PendingAck* FindPendingAck(uint64_t seq, v1::AckLevel level) const override;
  std::vector<PendingAck> PendingAcks() const override;
  size_t pending_ack_count() const override { return pending_.size(); }
  std::vector<InboxEntry> List() const override;

 protected:
  // AlreadyExists when this version of `directive` is stored, else Ok.
  Status CheckNotStored(const v1::Directive& directive) const;
  // Records `entry` as stored and raises last_seq to its seq. The caller has
  // checked that its (id, version) is not stored yet.
  void AddEntry(InboxEntry entry);
  // Raises last_seq to `seq` when it is higher.
  void RaiseLastSeq(uint64_t seq);

  // Records `ack`, replacing the one with the same (seq, level); returns the
  // replaced one.
  std::optional<PendingAck> SetPendingAck(const PendingAck& ack);
  // Drops the pending acknowledgement (seq, level) and returns it; nullopt
  // when there was none.
  std::optional<PendingAck> TakePendingAck(uint64_t seq, v1::AckLevel level);

 private:
  using Key = std::pair<std::string, uint32_t>;  // (id, version)
  using AckKey = std::pair<uint64_t, int>;       // (seq, level)

  uint64_t last_seq_ = 0;
  std::map<Key, InboxEntry> entries_;
  std::map<AckKey, PendingAck> pending_;
};

// An inbox in memory. With keep_directives false it remembers only what the
// protocol needs (keys, seq, pending acks), so thousands fit in one process;
// List() then returns entries without title, issuer and sent time.
class MemoryInbox final : public IndexedInbox {
 public:
  explicit MemoryInbox(bool keep_directives = true) : keep_directives_(keep_directives) {}

  Status Put(const v1::StoredDirective& stored) override;
  Status AddPendingAck(const PendingAck& ack) override;
  Result<bool> RemovePendingAck(uint64_t seq, v1::AckLevel level) override;

  // Number of Put calls that stored something; lets tests see that a
  // duplicate delivery was not stored twice.
  size_t put_count() const { return put_count_; }

 private:
  bool keep_directives_;
  size_t put_count_ = 0;
};

}  // namespace flatcast::subscriber
