// At a relay (docs/RELAY.md): the documents attached to the directives it
// stores, fetched from its upstream a chunk at a time (AttachmentGet over
// the relay's link, DocumentFetcher), each chunk stored through the commit
// path as a publisher's upload would be (Attachments::Accept: a relay pair's
// standby holds it too; the whole checked against its SHA-256), so that
// the relay's terminals fetch them from the relay. Owned by the broker's
// event loop.
#pragma once

#include "attachments.h"
#include "directive_index.h"
#include "flatcast.pb.h"
#include "flatcast/broker/upstream.h"
#include "flatcast/clock.h"
#include "flatcast/document_fetch.h"

namespace flatcast::broker {

class RelayDocuments {
 public:
  RelayDocuments(const Clock& clock, Attachments& attachments, UpstreamSink& upstream,
                 FetchOptions options = {})
      : attachments_(attachments), upstream_(upstream), fetcher_(clock, options) {}

  // Fetches what `d` has attached and is not stored here complete.
  void Want(const v1::Directive& d);
  // Wants the documents of every version held (after a restart).
  void Recover(const DirectiveIndex& index);
  // A reply from the upstream (DocumentFetcher::IsReply).
  void OnReply(const v1::Envelope& reply);
  // Asks for the next chunk when the link is up and one is due.
  void Pump();

  const FetchCounters& counters() const { return fetcher_.counters(); }

 private:
  Attachments& attachments_;
  UpstreamSink& upstream_;
  DocumentFetcher fetcher_;
};

}  // namespace flatcast::broker
