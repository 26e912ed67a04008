// A terminal's inbox: the directives it has stored, the acknowledgements and
// ratings the broker has not yet confirmed, the levels it has confirmed, and
// the broker's latest overdue report. TerminalSession reaches storage only
// through InboxStore; MemoryInbox serves tests and the swarm, DirectoryInbox
// (directory_inbox.h) the terminal daemon.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
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
  std::string note;  // READY: what is in place

  friend bool operator==(const PendingAck&, const PendingAck&) = default;
};

// A rating sent to the broker and not yet confirmed durable there.
// Identified by (seq, rated), as RatingConfirm names it.
struct PendingRating {
  uint64_t seq = 0;
  std::string directive_id;
  uint32_t version = 0;
  uint32_t clarity = 0;
  uint32_t feasibility = 0;
  std::string comment;
  TimePoint rated;

  friend bool operator==(const PendingRating&, const PendingRating&) = default;
};

// One stored directive, as listings show it.
struct InboxEntry {
  uint64_t seq = 0;
  std::string id;
  uint32_t version = 0;
  std::string title;
  std::string issuer_unit;
  TimePoint sent;
  bool withdrawn = false;  // this version no longer addresses the unit
  // The version's return form, when it has one (return_form.h).
  std::shared_ptr<const v1::ReturnForm> form;
};

// The unit's answer to a version's return form that the broker confirmed,
// and the revision it was stored as (2 and up: a correction).
struct ConfirmedReturn {
  v1::ReturnAnswer answer;
  uint32_t revision = 0;
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

  // Records a rating as pending (durable when it returns Ok).
  virtual Status AddPendingRating(const PendingRating& rating) = 0;
  // Drops the pending rating (seq, rated) and remembers it as the confirmed
  // rating of that seq; false when there was none.
  virtual Result<bool> RemovePendingRating(uint64_t seq, TimePoint rated) = 0;
  // Pending ratings ordered by (seq, rated).
  virtual std::vector<PendingRating> PendingRatings() const = 0;
  // When the confirmed rating of `seq` was made, if there is one.
  virtual std::optional<TimePoint> Rated(uint64_t seq) const = 0;

  // Records an answer to a return form as pending (durable when it returns
  // Ok); identified by (seq, answered), as ReturnConfirm names it.
  virtual Status AddPendingReturn(const v1::ReturnAnswer& answer) = 0;
  // Drops the pending answer (seq, answered) and remembers it as the
  // confirmed answer of that seq, stored as `revision`; false when there was none.
  virtual Result<bool> RemovePendingReturn(uint64_t seq, TimePoint answered, uint32_t revision) = 0;
  // Pending answers ordered by (seq, answered).
  virtual std::vector<v1::ReturnAnswer> PendingReturns() const = 0;
  // The latest confirmed answer to the form of `seq`, if there is one.
  virtual std::optional<ConfirmedReturn> Returned(uint64_t seq) const = 0;

  // When the operator acknowledged `seq` at `level` (CONFIRMED or READY) and
  // the broker confirmed it; nullopt otherwise. RemovePendingAck of such a
  // level records it.
  virtual std::optional<TimePoint> Acknowledged(uint64_t seq, v1::AckLevel level) const = 0;

  // The broker's latest OverdueReport, replacing the previous one.
  virtual Status SetOverdue(const v1::OverdueReport& report) = 0;
  virtual const v1::OverdueReport& overdue() const = 0;

  // Stored directives ordered by seq.
  virtual std::vector<InboxEntry> List() const = 0;
  // The highest stored version of `id`, or nullopt.
  virtual std::optional<InboxEntry> Latest(std::string_view id) const = 0;
};

// Summary of a stored directive for listings.
InboxEntry EntryOf(const v1::StoredDirective& stored);

// What the operator side of a terminal has recorded: acknowledgements and
// ratings on their way to the broker, the levels and ratings it confirmed,
// and the last overdue report. Small; a store writes all of it at once.
struct OperatorState {
  using AckKey = std::pair<uint64_t, int>;  // (seq, level)
  std::map<AckKey, PendingAck> pending_acks;
  std::map<std::pair<uint64_t, TimePoint>, PendingRating> pending_ratings;
  std::map<AckKey, TimePoint> acknowledged;  // CONFIRMED and READY, confirmed
  std::map<uint64_t, TimePoint> rated;       // the confirmed rating per seq
  std::map<std::pair<uint64_t, TimePoint>, v1::ReturnAnswer> pending_returns;
  std::map<uint64_t, ConfirmedReturn> returned;  // the latest confirmed answer per seq
  v1::OverdueReport overdue;
};

// The index both stores keep in memory: the stored (id, version) pairs with
// their entries, the highest seq, and the operator state. It answers every
// read of InboxStore and makes each change to the operator state durable
// through Persist(), undoing it in memory when Persist() fails; a subclass
// implements Put and Persist.
class IndexedInbox : public InboxStore {
 public:
  uint64_t last_seq() const override { return last_seq_; }
  bool Contains(std::string_view id, uint32_t version) const override;
  size_t size() const override { return entries_.size(); }
  const PendingAck* FindPendingAck(uint64_t seq, v1::AckLevel level) const override;
  std::vector<PendingAck> PendingAcks() const override;
  size_t pending_ack_count() const override { return state_.pending_acks.size(); }
  std::vector<InboxEntry> List() const override;
  std::optional<InboxEntry> Latest(std::string_view id) const override;

  Status AddPendingAck(const PendingAck& ack) override;
  Result<bool> RemovePendingAck(uint64_t seq, v1::AckLevel level) override;
  Status AddPendingRating(const PendingRating& rating) override;
  Result<bool> RemovePendingRating(uint64_t seq, TimePoint rated) override;
  std::vector<PendingRating> PendingRatings() const override;
  std::optional<TimePoint> Rated(uint64_t seq) const override;
  Status AddPendingReturn(const v1::ReturnAnswer& answer) override;
  Result<bool> RemovePendingReturn(uint64_t seq, TimePoint answered, uint32_t revision) override;
  std::vector<v1::ReturnAnswer> PendingReturns() const override;
  std::optional<ConfirmedReturn> Returned(uint64_t seq) const override;
  std::optional<TimePoint> Acknowledged(uint64_t seq, v1::AckLevel level) const override;
  Status SetOverdue(const v1::OverdueReport& report) override;
  const v1::OverdueReport& overdue() const override { return state_.overdue; }

  const OperatorState& operator_state() const { return state_; }

 protected:
  // Makes the operator state as it is now durable (MemoryInbox: nothing).
  virtual Status Persist() = 0;

  // AlreadyExists when this version of `directive` is stored, else Ok.
  Status CheckNotStored(const v1::Directive& directive) const;
  // Records `entry` as stored and raises last_seq to its seq. The caller has
  // checked that its (id, version) is not stored yet.
  void AddEntry(InboxEntry entry);
  // Raises last_seq to `seq` when it is higher.
  void RaiseLastSeq(uint64_t seq);
  // Replaces the operator state without persisting it (loading).
  void RestoreState(OperatorState state) { state_ = std::move(state); }
  OperatorState& mutable_state() { return state_; }

 private:
  using Key = std::pair<std::string, uint32_t>;  // (id, version)
  // Applies `change` to the operator state and persists it; restores the
  // state as it was when Persist() fails.
  template <typename Change>
  Status Update(Change&& change);

  uint64_t last_seq_ = 0;
  std::map<Key, InboxEntry> entries_;
  OperatorState state_;
};

// An inbox in memory. With keep_directives false it remembers only what the
// protocol needs (keys, seq, pending acks), so thousands fit in one process;
// List() then returns entries without title, issuer and sent time.
class MemoryInbox final : public IndexedInbox {
 public:
  explicit MemoryInbox(bool keep_directives = true) : keep_directives_(keep_directives) {}

  Status Put(const v1::StoredDirective& stored) override;

  // Number of Put calls that stored something; lets tests see that a
  // duplicate delivery was not stored twice.
  size_t put_count() const { return put_count_; }

 protected:
  Status Persist() override { return Status::Ok(); }

 private:
  bool keep_directives_;
  size_t put_count_ = 0;
};

}  // namespace flatcast::subscriber
