// Fetching attached documents from a broker (docs/PROTOCOL.md,
// "Attachments"), for terminals, public servers and relays: one chunk asked
// for at a time (AttachmentGet), each checked against what the directive
// declares, kept by a DocumentShelf, the whole checked against its signed
// SHA-256 before it is used; a document whose content does not match is
// refused and dropped. A state machine over envelopes: no sockets, no
// sleeping; the caller sends what Next() returns and hands back the replies.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/attachment.h"
#include "flatcast/clock.h"
#include "flatcast/status.h"

namespace flatcast {

// What is fetched of a document: what its directive declares.
struct WantedDocument {
  std::string sha256;  // 32 bytes
  uint64_t size = 0;
  std::string media_type;
  std::string name;  // for messages

  static WantedDocument Of(const v1::Attachment& a) { return {a.sha256(), a.size(), a.media_type(), a.name()}; }
};

// Where fetched documents are kept. Held() bytes are kept in order from the
// start; Append() adds the chunk that begins there; Finish() checks the
// whole against the SHA-256 and makes it available (Corruption, with
// nothing of it kept, when it is not that document).
class DocumentShelf {
 public:
  virtual ~DocumentShelf() = default;
  // Bytes held of `doc` in order from its start; doc.size once it is complete.
  virtual uint64_t Held(const WantedDocument& doc) = 0;
  virtual bool Complete(const WantedDocument& doc) = 0;
  virtual Status Append(const WantedDocument& doc, uint64_t offset, std::string_view data) = 0;
  virtual Status Finish(const WantedDocument& doc) = 0;
};

// Documents as files: <dir>/<hex SHA-256> once complete and checked (read
// only), <dir>/<hex>.part while being fetched (a restart goes on from its
// length). The directory is created.
class DirectoryShelf final : public DocumentShelf {
 public:
  static Result<std::unique_ptr<DirectoryShelf>> Open(const std::string& dir);

  // The file of a complete document (it may not exist yet).
  std::string PathOf(std::string_view sha256) const;

  uint64_t Held(const WantedDocument& doc) override;
  bool Complete(const WantedDocument& doc) override;
  Status Append(const WantedDocument& doc, uint64_t offset, std::string_view data) override;
  Status Finish(const WantedDocument& doc) override;

 private:
  explicit DirectoryShelf(std::string dir) : dir_(std::move(dir)) {}
  std::string PartOf(std::string_view sha256) const;
  std::string dir_;
};

// Keeps no content: only the digest of what was appended, so that many
// terminals of a swarm can fetch and check documents in one process.
class HashingShelf final : public DocumentShelf {
 public:
  uint64_t Held(const WantedDocument& doc) override;
  bool Complete(const WantedDocument& doc) override;
  Status Append(const WantedDocument& doc, uint64_t offset, std::string_view data) override;
  Status Finish(const WantedDocument& doc) override;

 private:
  struct Partial {
    uint64_t held = 0;
    std::unique_ptr<AttachmentDigest> digest = std::make_unique<AttachmentDigest>();
  };
  std::vector<std::pair<std::string, Partial>> partial_;  // few at a time
  std::vector<std::string> complete_;
  Partial& PartialOf(const std::string& sha256);
};

// Correlation ids of fetch requests carry this bit, so that an Error that
// answers one is told apart from the other messages' errors.
inline constexpr uint64_t kFetchCorrelationBit = uint64_t{1} << 62;

struct FetchOptions {
  // A request unanswered this long is sent again (its answer was dropped).
  std::chrono::milliseconds answer_timeout{15000};
  // After UNAVAILABLE (the broker is busy serving documents) or a chunk that
  // could not be kept: ask again after this, doubling up to busy_retry_max,
  // with up to half of it added at random so that many terminals spread
  // out. The cap is low: a broker at its document rate answers a refusal
  // cheaply, and a long wait would leave its rate unused.
  std::chrono::milliseconds busy_retry{1000};
  std::chrono::milliseconds busy_retry_max{8000};
  // After NOT_FOUND (not at this broker yet, e.g. a relay still fetching
  // it), another refusal, or content that did not match.
  std::chrono::milliseconds missing_retry{10000};
  std::chrono::milliseconds retry_max{600000};
  uint32_t seed = 0;  // of the random spread; 0: from std::random_device
};

struct FetchCounters {
  uint64_t requests = 0;   // AttachmentGet sent, resends included
  uint64_t chunks = 0;     // chunks kept
  uint64_t bytes = 0;      // bytes kept
  uint64_t completed = 0;  // documents complete and checked
  uint64_t refused = 0;    // documents whose content did not match (dropped)
  uint64_t errors = 0;     // refusals from the broker, replies that did not fit, failed writes
  uint64_t resent = 0;     // requests sent again after answer_timeout
};

// One wanted document, as views show it.
struct DocumentProgress {
  WantedDocument doc;
  uint64_t held = 0;
  bool complete = false;
  std::string problem;  // the last thing that went wrong, until it is complete
};

// A chunk a reply brought, for the caller to keep (FetchToShelf does).
struct FetchedChunk {
  WantedDocument doc;
  uint64_t offset = 0;
  std::string data;
};

class DocumentFetcher {
 public:
  explicit DocumentFetcher(const Clock& clock, FetchOptions options = {});

  // Fetches `doc`, of which `held` bytes are kept already (doc.size:
  // complete). Wanting a document again changes nothing.
  void Want(const WantedDocument& doc, uint64_t held, bool complete);

  // True for an envelope that answers a fetch request: an AttachmentChunk,
  // or an Error whose correlation id carries kFetchCorrelationBit.
  static bool IsReply(const v1::Envelope& envelope);

  // The request to send now (an encoded Envelope), when nothing is in
  // flight and a document is due; a request unanswered for answer_timeout
  // is returned again. The caller calls it only while the link is up.
  std::optional<std::string> Next();

  // A reply. The chunk that answers the request in flight, to be kept and
  // then reported with Kept() or NotKept(); nullopt for a reply to an
  // earlier request (sent again since). An error says what was wrong with
  // the reply or what the broker refused; the document is asked for again
  // later.
  Result<std::optional<FetchedChunk>> OnReply(const v1::Envelope& envelope);
  // The chunk was kept. When it was the last, `verdict` says whether the
  // whole matched its SHA-256: an error drops it (refused, fetched again
  // after missing_retry).
  void Kept(const FetchedChunk& chunk, const Status& verdict = Status::Ok());
  // The chunk could not be kept (a full disk): asked for again later.
  void NotKept(const FetchedChunk& chunk, const Status& why);

  // The link went down: the request in flight is forgotten and sent again.
  void LinkDown();

  bool idle() const;  // nothing wanted that is not complete
  std::vector<DocumentProgress> Progress() const;
  const FetchCounters& counters() const { return counters_; }

 private:
  struct Doc {
    DocumentProgress p;
    TimePoint due{};
    std::chrono::milliseconds backoff{0};
  };
  Doc* Find(const std::string& sha256);
  void Later(Doc& doc, std::chrono::milliseconds first, std::chrono::milliseconds most, std::string problem);

  const Clock& clock_;
  FetchOptions options_;
  std::minstd_rand random_;
  std::deque<Doc> docs_;  // in the order wanted
  struct InFlight {
    std::string sha256;
    uint64_t offset = 0;
    uint64_t correlation = 0;
    TimePoint sent{};
    bool answered = false;  // a chunk was handed out, not yet Kept/NotKept
  };
  std::optional<InFlight> in_flight_;
  uint64_t next_correlation_ = 1;
  FetchCounters counters_;
};

// Hands one reply to `fetcher` and keeps what it brought on `shelf`: the
// chunk appended, the whole checked when it was the last. The error says
// what went wrong (the fetcher asks again as it should); a document that
// did not match is Corruption.
Status FetchToShelf(DocumentFetcher& fetcher, DocumentShelf& shelf, const v1::Envelope& reply);

// Wants each attachment of `d` from `fetcher`, with what `shelf` holds of it.
void WantAttachments(DocumentFetcher& fetcher, DocumentShelf& shelf, const v1::Directive& d);

}  // namespace flatcast
