// A public server's link to the broker (docs/PUBLIC.md): a DEALER to the
// broker's client endpoint (either of a pair's; another one is tried when
// one refuses or falls silent), with a key of the `public` role. It says
// what it holds (PublicHello: the cursor), takes the broker's batches of
// documents, has them stored (the `deliver` callback, synced) and says so
// (PublicStored), which also answers the broker's heartbeat. It fetches the
// documents attached to what it stores (AttachmentGet, a chunk at a time,
// each whole checked against its SHA-256; document_fetch.h) into
// `documents_dir`. It sends nothing else: the broker takes nothing else
// from it.
//
// Runs on a thread of its own with its own ZeroMQ context.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/curve.h"
#include "flatcast/document_fetch.h"
#include "flatcast/status.h"

namespace flatcast::feed {

namespace v1 = ::flatcast::v1;

struct PublicLinkOptions {
  std::vector<std::string> endpoints;  // the broker's (a pair's two)
  std::optional<CurveClientKeys> curve;
  std::string name = "flatcast-public";
  // The largest message taken from the broker.
  size_t max_message_bytes = size_t{64} << 20;
  // Where attached documents are kept (DirectoryShelf); empty: none fetched.
  std::string documents_dir;
  // Documents to fetch from the start: those of what the copy holds.
  std::vector<v1::Attachment> documents;
};

struct PublicLinkState {
  std::string endpoint;
  bool welcomed = false;
  uint64_t cursor = 0;
  uint64_t head = 0;     // the broker's, as last heard
  std::string problem;   // why it is not welcomed, when the broker said
  FetchCounters documents;       // attached documents fetched
  size_t documents_waiting = 0;  // wanted and not yet complete
};

class PublicLink {
 public:
  // Stores documents and moves the cursor to `last`; an error makes the
  // link ask for them again later.
  using Deliver = std::function<Status(const std::vector<v1::PublicDocument>& docs, uint64_t last)>;
  using Keys = std::function<Status(const std::vector<v1::ReleaseKey>& keys)>;

  static Result<std::unique_ptr<PublicLink>> Start(PublicLinkOptions options, uint64_t cursor,
                                                   Deliver deliver, Keys keys);
  ~PublicLink();
  PublicLink(const PublicLink&) = delete;
  PublicLink& operator=(const PublicLink&) = delete;

  PublicLinkState state() const;

 private:
  PublicLink(PublicLinkOptions options, uint64_t cursor, Deliver deliver, Keys keys);
  void Serve();

  zmq::context_t context_{1};
  const PublicLinkOptions options_;
  Deliver deliver_;
  Keys keys_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  PublicLinkState state_;  // guarded by mutex_
  std::thread thread_;
};

// Decodes one message from the broker (at most `max` bytes) and checks a
// batch: documents in public_seq order within (after, last], each with a
// public id. For the link and the fuzz target.
Result<v1::Envelope> DecodeBrokerMessage(std::string_view bytes, size_t max);

}  // namespace flatcast::feed
