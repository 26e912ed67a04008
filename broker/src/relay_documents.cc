#include "relay_documents.h"

#include <spdlog/spdlog.h>

#include "flatcast/signing.h"

namespace flatcast::broker {

void RelayDocuments::Want(const v1::Directive& d) {
  for (const v1::Attachment& a : d.attachments()) {
    const WantedDocument doc = WantedDocument::Of(a);
    Result<std::optional<v1::AttachmentMeta>> meta = attachments_.Stored(a.sha256());
    if (!meta.ok()) {
      spdlog::error("relay: attached document {}: {}", ToHex(a.sha256()), meta.status().message());
      continue;
    }
    const bool complete = *meta && (*meta)->complete();
    fetcher_.Want(doc, *meta ? (*meta)->stored() : 0, complete);
  }
  Pump();
}

void RelayDocuments::Recover(const DirectiveIndex& index) {
  for (const auto& [seq, state] : index.versions()) {
    if (state.stored.directive().attachments_size() > 0) Want(state.stored.directive());
  }
}

void RelayDocuments::Pump() {
  if (!upstream_.Welcomed()) return;
  if (std::optional<std::string> request = fetcher_.Next()) upstream_.SendDocumentRequest(std::move(*request));
}

void RelayDocuments::OnReply(const v1::Envelope& reply) {
  Result<std::optional<FetchedChunk>> got = fetcher_.OnReply(reply);
  if (!got.ok()) {
    spdlog::warn("relay: {}", got.status().message());
    return;
  }
  if (!*got) return;
  FetchedChunk chunk = std::move(**got);
  v1::AttachmentPut put;
  put.set_sha256(chunk.doc.sha256);
  put.set_size(chunk.doc.size);
  put.set_media_type(chunk.doc.media_type);
  put.set_offset(chunk.offset);
  put.set_data(chunk.data);
  // Called back once the chunk is durable (or refused), maybe in a later pass.
  attachments_.Accept(put, [this, chunk = std::move(chunk)](Result<v1::AttachmentMeta> meta) {
    const bool last = chunk.offset + chunk.data.size() == chunk.doc.size;
    if (meta.ok()) {
      fetcher_.Kept(chunk);
      if (meta->complete()) {
        spdlog::info("relay: attached document \"{}\" fetched from the upstream and checked", chunk.doc.name);
      }
    } else if (last && meta.status().code() == Status::Code::kInvalidArgument) {
      // The whole did not match its SHA-256: nothing of it is kept.
      spdlog::error("relay: attached document \"{}\" from the upstream refused: {}", chunk.doc.name,
                    meta.status().message());
      fetcher_.Kept(chunk, meta.status());
    } else {
      spdlog::warn("relay: a chunk of attached document \"{}\" not stored: {}", chunk.doc.name,
                   meta.status().message());
      fetcher_.NotKept(chunk, meta.status());
    }
    Pump();
  });
}

}  // namespace flatcast::broker
