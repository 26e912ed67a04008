// Attached documents at the broker (docs/PROTOCOL.md, "Attachments"): a
// publisher's upload, chunk by chunk in order, each chunk committed (so a
// pair's standby holds it too) before it is answered; the whole checked
// against its SHA-256 once its last chunk is in; and a chunk at a time for
// whoever asks with the SHA-256 (terminals, relays, public servers), so that
// a large document moves between other messages and never holds up a
// fan-out. Owned by the broker's event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "connections.h"
#include "flatcast.pb.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/store.h"
#include "flatcast/clock.h"
#include "flatcast/status.h"

namespace flatcast::broker {

class Attachments {
 public:
  // `rate`: bytes of documents served a second at most (0: no limit).
  Attachments(const Clock& clock, CommitPath& commits, Connections& connections, uint64_t rate = 0)
      : clock_(clock), commits_(commits), connections_(connections), rate_(rate), budget_(static_cast<double>(rate)) {}

  // The store the chunks are read from (set once it is open).
  void SetStore(const Store* store) { store_ = store; }

  // A publisher's chunk: answered with AttachmentStored (how much is stored
  // now, from the start) once durable, or with an error that says what was
  // wrong. A chunk stored already, or one beyond what is stored, is not
  // stored again: the answer tells where to go on.
  void OnPut(const std::string& routing, uint64_t correlation_id, const v1::AttachmentPut& put);
  // The same for any source (a publisher's upload, a relay's fetch from its
  // upstream): `done` is called once, maybe later, with how much of the
  // document is stored durably now, or with why the chunk was refused
  // (InvalidArgument, nothing of the document kept, when the whole does not
  // match its SHA-256).
  void Accept(const v1::AttachmentPut& put, std::function<void(Result<v1::AttachmentMeta>)> done);
  // How much of a document is stored here; nullopt when nothing.
  Result<std::optional<v1::AttachmentMeta>> Stored(const std::string& sha256) const { return Meta(sha256); }
  // A chunk of a complete document: AttachmentChunk, or NOT_FOUND / INVALID,
  // or UNAVAILABLE beyond the rate.
  Status OnGet(const std::string& routing, uint64_t correlation_id, const v1::AttachmentGet& get);

  // Ok when every attachment of `d` is stored complete at this broker, with
  // the size, media type and SHA-1 the directive declares; InvalidArgument
  // naming the first that is not.
  Status CheckStored(const v1::Directive& d) const;

 private:
  Result<std::optional<v1::AttachmentMeta>> Meta(const std::string& sha256) const;
  void Answer(const std::string& routing, const v1::Envelope& reply);
  void Refuse(const std::string& routing, uint64_t correlation_id, const Status& status);

  const Clock& clock_;
  CommitPath& commits_;
  Connections& connections_;
  const Store* store_ = nullptr;
  // The rate limit: a token bucket of bytes, a second's worth at most.
  const uint64_t rate_;
  double budget_;
  TimePoint refilled_{};
  uint64_t throttled_ = 0;  // requests answered UNAVAILABLE for it
  // Documents whose chunk is being committed now: another chunk for one of
  // them waits for the publisher to send it again.
  std::map<std::string, v1::AttachmentMeta> committing_;
};

}  // namespace flatcast::broker
