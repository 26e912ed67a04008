// The terminal side of the broker protocol (docs/PROTOCOL.md), as a state
// machine over encoded envelopes: no sockets, no loops, no sleeping. The
// daemon and the swarm feed it the bytes they receive and send the bytes it
// hands back.
//
//   terminal                         broker
//   Hello{unit, last_seq}      ->
//                              <-    Welcome | Error{NOT_REGISTERED}
//                              <-    Deliver{StoredDirective}   (repeats, any order)
//   Ack{seq, id, version, RECEIVED} ->
//                              <-    AckConfirm{seq, level}     (ack is durable)
//                              <-    Heartbeat{head_seq, unacknowledged}  (every interval)
//                              <-    OverdueReport               (deadlines passed)
//   Ack{..., CONFIRMED | READY}  ->  (an operator's Acknowledge)
//   Rating{seq, ...}             ->  (an operator's Rate)
//                              <-    RatingConfirm{seq, rated}   (rating is durable)
//   ReturnAnswer{seq, values, answered} -> (an operator's Return)
//                              <-    ReturnConfirm{seq, answered, revision}  (answer is durable)
//
// Repair. Any message may be lost on the way (a full send queue drops it), so
// a Heartbeat makes the session check that nothing is missing, at most once
// per heartbeat interval: acks pending for an interval are sent again (their
// AckConfirm was lost); with none pending, a non-zero `unacknowledged` means a
// delivery was lost, and a Hello makes the broker send every directive the
// unit has not acknowledged; a Heartbeat while a Welcome is awaited means the
// Welcome was lost, and the Hello is sent again. Silence is the other fault:
// ConnectionLooksDead() tells the caller to open a new connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/clock.h"
#include "flatcast/document_fetch.h"
#include "flatcast/key_registry.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"
#include "flatcast/subscriber/inbox.h"

namespace flatcast::subscriber {

// The tier of a GB/T 2260 unit code; InvalidArgument saying what a code looks
// like when `code` is not one.
Result<Tier> ParseUnitCode(std::string_view code);

struct SessionCounters {
  uint64_t hellos_sent = 0;
  uint64_t welcomed = 0;        // Welcome messages accepted
  uint64_t deliveries = 0;      // Deliver messages received, repeats included
  uint64_t received = 0;        // deliveries stored (first time)
  uint64_t duplicates = 0;      // deliveries already stored, acknowledged again
  uint64_t not_addressed = 0;   // deliveries for another unit, ignored
  uint64_t withdrawn = 0;       // versions no longer addressed to this unit, stored as such
  uint64_t bad_signatures = 0;  // deliveries refused: signature missing or not verifying
  uint64_t store_failures = 0;  // deliveries that could not be stored, not acknowledged
  uint64_t acks_sent = 0;       // including resends
  uint64_t acks_confirmed = 0;  // pending acknowledgements cleared by AckConfirm
  uint64_t heartbeats = 0;      // Heartbeat messages received
  uint64_t resyncs = 0;         // Hellos sent because a Heartbeat showed something missing
  uint64_t acks_resent = 0;     // pending acks sent again because a Heartbeat came first
  uint64_t ratings_sent = 0;       // including resends
  uint64_t ratings_confirmed = 0;  // pending ratings cleared by RatingConfirm
  uint64_t returns_sent = 0;       // answers to return forms, including resends
  uint64_t returns_confirmed = 0;  // pending answers cleared by ReturnConfirm
  uint64_t overdue_reports = 0;    // OverdueReport messages received
  uint64_t documents_kept = 0;     // attached documents fetched whole and checked
  uint64_t documents_refused = 0;  // attached documents whose content did not match (dropped)
  uint64_t errors = 0;          // Error envelopes from the broker
  uint64_t bad_messages = 0;    // undecodable or unexpected envelopes
};

// What a session does, for callers that want to log it. Every method has an
// empty default.
class SessionListener {
 public:
  virtual ~SessionListener() = default;
  virtual void OnWelcome(const v1::Welcome& welcome) {}
  virtual void OnStored(const v1::StoredDirective& stored) {}
  virtual void OnDuplicate(const v1::StoredDirective& stored) {}
  virtual void OnAckConfirmed(uint64_t seq, v1::AckLevel level) {}
  virtual void OnRatingConfirmed(uint64_t seq) {}
  virtual void OnReturnConfirmed(uint64_t seq, uint32_t revision) {}
  virtual void OnOverdue(const v1::OverdueReport& report) {}
  // An attached document was fetched whole and matched its SHA-256.
  virtual void OnDocumentKept(const WantedDocument& doc) {}
};

// What an operator's command recorded.
struct OperatorOutcome {
  InboxEntry directive;  // the version acknowledged or rated (the latest stored)
  bool sent = false;     // sent to the broker now; else when it is reachable again
  std::string what;      // e.g. "CONFIRMED recorded", "already READY since ..."
};

struct SessionOptions {
  // Without a Welcome this long after a Hello, NeedsHelloRetry() says so. The
  // wait doubles after every unanswered Hello, up to hello_retry_max, so a
  // slow broker is not buried in Hellos from many terminals.
  std::chrono::milliseconds hello_retry{5000};
  std::chrono::milliseconds hello_retry_max{60000};
  // After the broker refused the unit (Error NOT_REGISTERED), wait this long.
  std::chrono::milliseconds rejected_retry{60000};
  // Keep delivery latencies for LatenciesUs().
  bool record_latency = true;
  // When set, a delivered directive must carry a signature that verifies
  // with a publisher's signing key in this registry that was active when
  // the directive was sent; any other is refused: not stored, not
  // acknowledged. Null: signatures are not checked. Must outlive the session.
  const KeyRegistry* keys = nullptr;
  // Levels acknowledged automatically right after RECEIVED, for swarms that
  // play operators too (benchmarks, tests): CONFIRMED, READY.
  std::vector<v1::AckLevel> auto_levels;
  // When set, a directive with a return form is answered right after
  // RECEIVED with what this returns for the form and the unit (swarms that
  // play operators; the answer is checked like an operator's).
  std::function<google::protobuf::RepeatedPtrField<v1::FieldValue>(const v1::ReturnForm& form,
                                                                   const std::string& unit_code)>
      auto_answer;
  // When both are set, the documents attached to each directive stored are
  // fetched from the broker a chunk at a time while welcomed, checked and
  // kept on `shelf` (document_fetch.h). Both must outlive the session.
  DocumentFetcher* documents = nullptr;
  DocumentShelf* shelf = nullptr;
};

// One terminal's protocol state. Not thread-safe. The inbox, clock and
// listener must outlive the session.
class TerminalSession {
 public:
  // `unit_code` must be a valid code of tier `tier` (see ParseUnitCode).
  TerminalSession(std::string unit_code, Tier tier, InboxStore& inbox, Clock& clock,
                  SessionListener* listener = nullptr, SessionOptions options = {});

  // An encoded Hello{unit, inbox.last_seq()}; starts waiting for a Welcome.
  std::string Hello();

  // Handles one message body from the broker and appends the messages to
  // send in reply to `out`, in order. Returns Ok for every message that was
  // understood, including a duplicate delivery. Returns an error, with `out`
  // possibly extended, for: bytes that do not decode (Corruption); a Welcome
  // for another unit or a message a terminal never receives
  // (InvalidArgument); a delivery not addressed to this unit, which is
  // ignored and not acknowledged (InvalidArgument); with SessionOptions::keys,
  // a delivery whose signature is missing or does not verify, which is not
  // stored and not acknowledged (PermissionDenied); an Error from the broker
  // (PermissionDenied for NOT_REGISTERED, else Unavailable); a delivery that
  // could not be stored, which is not acknowledged so the broker sends it
  // again (the store's error).
  Status OnMessage(std::string_view bytes, std::vector<std::string>& out);

  // An operator acknowledges the latest stored version of `id` at `level`
  // (CONFIRMED or READY; READY also records CONFIRMED if it was not). The
  // acknowledgement is recorded durably as pending and, when the session is
  // welcomed, its message appended to `out`; otherwise it is sent after the
  // next Welcome. Acknowledging a level again changes nothing. NotFound when
  // no version of `id` is stored.
  Result<OperatorOutcome> Acknowledge(std::string_view id, v1::AckLevel level, std::string note,
                                      std::vector<std::string>& out);
  // An operator rates the latest stored version of `id` (clarity and
  // feasibility 1..5, a comment); a later rating replaces an earlier one at
  // the broker. Delivered like Acknowledge.
  Result<OperatorOutcome> Rate(std::string_view id, uint32_t clarity, uint32_t feasibility,
                               std::string comment, std::vector<std::string>& out);
  // An operator answers the return form of the latest stored version of
  // `id`; checked against the form here (return_form.h) and again at the
  // broker. Answering again corrects the answer (the broker keeps both).
  // Delivered like Acknowledge.
  Result<OperatorOutcome> Return(std::string_view id,
                                 google::protobuf::RepeatedPtrField<v1::FieldValue> values,
                                 std::vector<std::string>& out);

  // Appends the next request for a chunk of an attached document to `out`
  // when the session is welcomed and one is due (SessionOptions::documents).
  // Called from the caller's loop; a kept chunk asks for the next at once.
  void PollDocuments(std::vector<std::string>& out);

  // The connection was (re)established: the broker knows this unit again
  // only after a Hello, so the session waits for a Welcome as after Hello().
  // What the previous connection's Welcome said about heartbeats is dropped.
  void OnConnected();
  // The connection is gone; the broker forgets the unit with it.
  void OnDisconnected();

  // True when a Hello should be sent now: no Welcome since the last Hello and
  // the retry wait has passed (see SessionOptions).
  bool NeedsHelloRetry(TimePoint now) const;

  // True when a Welcome on the current connection announced heartbeats
  // (heartbeat_interval_ms > 0) and nothing at all has been heard from the
  // broker for three heartbeat intervals since: the broker is stopped, or the
  // connection is dead without TCP having noticed. The caller then closes the
  // socket, opens a new connection and calls OnDisconnected() and, once it is
  // up, OnConnected(). Always false before such a Welcome.
  bool ConnectionLooksDead(TimePoint now) const;
  // Set once when the broker answered NOT_LEADER (a pair's standby): the
  // leader's endpoint it named, empty when it knows none. The caller
  // connects there (or to its next broker endpoint) instead.
  std::optional<std::string> TakeRedirect() { return std::exchange(redirect_, std::nullopt); }
  // The interval the current connection's Welcome announced; zero when none.
  std::chrono::milliseconds heartbeat_interval() const { return heartbeat_interval_; }

  const std::string& unit_code() const { return unit_code_; }
  Tier tier() const { return tier_; }
  // True after a Welcome, until the next Hello, OnConnected() or OnDisconnected().
  bool welcomed() const { return welcomed_; }
  // True after the broker refused the unit, until a Welcome.
  bool rejected() const { return rejected_; }
  const std::string& unit_name() const { return unit_name_; }
  const SessionCounters& counters() const { return counters_; }
  // Why the last delivery could not be stored (a full disk, an I/O error),
  // and since when; empty once a delivery is stored again. What was not
  // stored is not acknowledged, so the broker sends it again.
  std::string storage_error() const;
  // now - directive.sent, in microseconds, for each first-time delivery that
  // carried a sent time.
  const std::vector<int64_t>& LatenciesUs() const { return latencies_us_; }
  // The seq of each delivery in LatenciesUs(), parallel to it.
  const std::vector<uint64_t>& LatencySeqs() const { return latency_seqs_; }

 private:
  Status HandleWelcome(const v1::Welcome& welcome, std::vector<std::string>& out);
  Status HandleDeliver(const v1::Deliver& deliver, std::vector<std::string>& out);
  // Records that `stored` could not be stored (or its acknowledgement not
  // recorded) and says so; nothing is acknowledged.
  Status NotStored(const v1::StoredDirective& stored, const Status& st);
  Status HandleAckConfirm(const v1::AckConfirm& confirm);
  Status HandleHeartbeat(const v1::Heartbeat& heartbeat, std::vector<std::string>& out);
  Status HandleError(const v1::Error& error);
  Status HandleRatingConfirm(const v1::RatingConfirm& confirm);
  Status HandleReturnConfirm(const v1::ReturnConfirm& confirm);
  std::string EncodeReturn(const v1::ReturnAnswer& answer);
  // The latest stored version of `id` for an operator to `verb`: NotFound
  // when none is stored, InvalidArgument when it was withdrawn from the unit.
  Result<InboxEntry> LatestToActOn(std::string_view id, std::string_view verb) const;
  Status HandleOverdue(const v1::OverdueReport& report);
  Status HandleDocument(const v1::Envelope& reply, std::vector<std::string>& out);
  std::string EncodeAck(const PendingAck& ack);
  std::string EncodeRating(const PendingRating& rating);
  // Records `ack` as pending and sends it if welcomed; true when sent.
  Result<bool> RecordAck(PendingAck ack, std::vector<std::string>& out);
  // Drops what the session knew about the current connection: its Welcome,
  // heartbeat interval, last message heard and the acks sent on it.
  void ForgetConnection();

  std::string unit_code_;
  Tier tier_;
  InboxStore& inbox_;
  Clock& clock_;
  SessionListener* listener_;
  SessionOptions options_;

  bool welcomed_ = false;
  bool rejected_ = false;
  std::optional<std::string> redirect_;
  std::optional<TimePoint> last_hello_;
  std::chrono::milliseconds hello_wait_;
  // From the current connection's Welcome; zero: the broker sends none.
  std::chrono::milliseconds heartbeat_interval_{0};
  std::optional<TimePoint> last_heard_;   // anything received on this connection
  std::optional<TimePoint> last_repair_;  // a Heartbeat last made the session send something
  // When each pending ack, by (seq, level), was last sent on this connection.
  std::map<std::pair<uint64_t, int>, TimePoint> ack_sent_;
  // When each pending rating, by (seq, rated), was last sent on this connection.
  std::map<std::pair<uint64_t, TimePoint>, TimePoint> rating_sent_;
  // When each pending answer, by (seq, answered), was last sent on this connection.
  std::map<std::pair<uint64_t, TimePoint>, TimePoint> return_sent_;
  std::string unit_name_;
  SessionCounters counters_;
  std::optional<TimePoint> storage_failing_since_;  // set while deliveries cannot be stored
  std::string storage_error_;                       // the last such failure
  std::vector<int64_t> latencies_us_;
  std::vector<uint64_t> latency_seqs_;
};

}  // namespace flatcast::subscriber
