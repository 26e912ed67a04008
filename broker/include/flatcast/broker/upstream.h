// What a relay's core tells its link to the upstream (docs/RELAY.md): the
// core stores the versions the link hands it, in order, and says when each
// is durable or why it was not stored. Called on the broker's event loop;
// an implementation hands the news to its own thread.
#pragma once

#include <cstdint>
#include <string>

#include "flatcast/status.h"

namespace flatcast::broker {

class UpstreamSink {
 public:
  virtual ~UpstreamSink() = default;
  // Every upstream version up to `upstream_seq` that reaches this relay's
  // region is stored here, synced.
  virtual void Stored(uint64_t upstream_seq) = 0;
  // Version `upstream_seq` was not stored: refused (it reaches no unit of
  // the region, its signature does not verify) or the store failed. The
  // link asks the upstream again from what is stored.
  virtual void NotStored(uint64_t upstream_seq, const Status& why) = 0;
  // The link is welcomed by the upstream: requests can go.
  virtual bool Welcomed() const { return false; }
  // Sends an encoded request for a chunk of an attached document
  // (AttachmentGet); its reply comes back to the core
  // (BrokerCore::OnUpstreamDocumentReply). Dropped when the link is down.
  virtual void SendDocumentRequest(std::string request) {}
};

}  // namespace flatcast::broker
