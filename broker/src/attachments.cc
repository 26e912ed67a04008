#include "attachments.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "flatcast/attachment.h"
#include "flatcast/signing.h"
#include "replies.h"

namespace flatcast::broker {

namespace {

std::string Short(const std::string& sha256) { return ToHex(sha256).substr(0, 16); }

// How much of the document is stored, as the publisher is told.
v1::Envelope StoredReply(uint64_t corr, const std::string& sha256, const v1::AttachmentMeta& meta) {
  v1::Envelope reply = NewEnvelope(corr);
  auto* s = reply.mutable_attachment_stored();
  s->set_sha256(sha256);
  s->set_stored(meta.stored());
  s->set_complete(meta.complete());
  return reply;
}

Status CheckDigestField(const std::string& sha256) {
  if (sha256.size() != 32) {
    return Status::InvalidArgument(fmt::format("sha256 is {} bytes, not 32", sha256.size()));
  }
  return Status::Ok();
}

}  // namespace

Result<std::optional<v1::AttachmentMeta>> Attachments::Meta(const std::string& sha256) const {
  if (store_ == nullptr) return Status::Unavailable("the store is not open");
  return store_->GetAttachmentMeta(sha256);
}

void Attachments::Answer(const std::string& routing, const v1::Envelope& reply) {
  (void)connections_.Reply(routing, Encoded(reply), clock_.Now());
}

void Attachments::Refuse(const std::string& routing, uint64_t corr, const Status& status) {
  (void)connections_.Reply(routing, ErrorReply(corr, status), clock_.Now());
}

void Attachments::OnPut(const std::string& routing, uint64_t corr, const v1::AttachmentPut& put) {
  Accept(put, [this, routing, corr, sha256 = put.sha256()](Result<v1::AttachmentMeta> meta) {
    if (!meta.ok()) {
      spdlog::warn("refused an attachment chunk: {}", meta.status().message());
      Refuse(routing, corr, meta.status());
      return;
    }
    Answer(routing, StoredReply(corr, sha256, *meta));
  });
}

void Attachments::Accept(const v1::AttachmentPut& put, std::function<void(Result<v1::AttachmentMeta>)> done) {
  auto refuse = [&](const Status& st) { done(st); };
  auto stored_reply = [&](const v1::AttachmentMeta& meta) { done(meta); };
  if (Status st = CheckDigestField(put.sha256()); !st.ok()) return refuse(st);
  if (put.size() == 0 || put.size() > kMaxAttachmentBytes) {
    return refuse(Status::InvalidArgument(
        fmt::format("size {} is not from 1 byte to {} bytes", put.size(), kMaxAttachmentBytes)));
  }
  if (!IsAttachmentMediaType(put.media_type())) {
    return refuse(Status::InvalidArgument(fmt::format(
        "media type \"{}\" is not application/pdf, image/png or image/jpeg", put.media_type().substr(0, 64))));
  }
  if (put.offset() % kAttachmentChunkBytes != 0 || put.offset() >= put.size()) {
    return refuse(Status::InvalidArgument(fmt::format(
        "offset {} is not a multiple of {} within the document's {} bytes", put.offset(),
        kAttachmentChunkBytes, put.size())));
  }
  const uint64_t expected = std::min<uint64_t>(kAttachmentChunkBytes, put.size() - put.offset());
  if (put.data().size() != expected) {
    return refuse(Status::InvalidArgument(fmt::format(
        "the chunk at {} holds {} bytes; it must hold {}", put.offset(), put.data().size(), expected)));
  }
  if (committing_.contains(put.sha256())) {
    return refuse(Status::Unavailable("a chunk of this document is being stored; send it again"));
  }
  Result<std::optional<v1::AttachmentMeta>> found = Meta(put.sha256());
  if (!found.ok()) return refuse(found.status());
  v1::AttachmentMeta meta;  // none stored yet: 0 bytes of it
  meta.set_size(put.size());
  meta.set_media_type(put.media_type());
  if (*found) {
    if ((*found)->size() != put.size() || (*found)->media_type() != put.media_type()) {
      return refuse(Status::InvalidArgument(fmt::format(
          "document {} is being stored as {} bytes of {}, not {} bytes of {}", Short(put.sha256()),
          (*found)->size(), (*found)->media_type(), put.size(), put.media_type())));
    }
    meta = **found;
  }
  // Stored already, or not where the upload stands: say where it stands.
  if (meta.complete() || put.offset() != meta.stored()) return stored_reply(meta);
  if (put.offset() == 0 && SniffMediaType(put.data()) != put.media_type()) {
    return refuse(Status::InvalidArgument(fmt::format(
        "the document is declared {} but begins like {}", put.media_type(),
        SniffMediaType(put.data()).empty() ? "none of PDF, PNG, JPEG" : SniffMediaType(put.data()))));
  }
  StoreWrite write;
  meta.set_stored(put.offset() + put.data().size());
  if (meta.stored() == meta.size()) {
    // The last chunk: the whole must be what its SHA-256 says.
    AttachmentDigest digest;
    for (uint64_t offset = 0; offset < put.offset(); offset += kAttachmentChunkBytes) {
      Result<std::optional<std::string>> chunk = store_->GetAttachmentChunk(put.sha256(), offset);
      if (!chunk.ok()) return refuse(chunk.status());
      if (!*chunk) return refuse(Status::Corruption(fmt::format("chunk {} of {} is missing", offset, Short(put.sha256()))));
      digest.Update(**chunk);
    }
    digest.Update(put.data());
    std::string sha256, sha1;
    digest.Finish(&sha256, &sha1);
    if (sha256 != put.sha256()) {
      StoreWrite drop;
      drop.attachment_drops.push_back(put.sha256());
      commits_.Commit(std::move(drop), [](const Status&) {});
      return refuse(Status::InvalidArgument(fmt::format(
          "the document's content has the SHA-256 {}, not the {} it was sent as; nothing of it is kept: "
          "send it again from the start", ToHex(sha256), ToHex(put.sha256()))));
    }
    meta.set_complete(true);
    meta.set_sha1(sha1);
  }
  write.attachment_chunks.push_back({put.sha256(), put.offset(), put.data()});
  write.attachment_metas.emplace_back(put.sha256(), meta);
  committing_[put.sha256()] = meta;
  // Called back after OnPut has returned: everything it needs by value.
  commits_.Commit(std::move(write), [this, done = std::move(done), sha256 = put.sha256(), meta](const Status& st) {
    committing_.erase(sha256);
    if (!st.ok()) {
      done(st);
      return;
    }
    if (meta.complete()) {
      spdlog::info("stored attached document {} ({} bytes, {})", ToHex(sha256), meta.size(), meta.media_type());
    }
    done(meta);
  });
}

Status Attachments::OnGet(const std::string& routing, uint64_t corr, const v1::AttachmentGet& get) {
  FLATCAST_RETURN_IF_ERROR(CheckDigestField(get.sha256()));
  Result<std::optional<v1::AttachmentMeta>> meta = Meta(get.sha256());
  if (!meta.ok()) return meta.status();
  if (!*meta || !(*meta)->complete()) {
    return Status::NotFound(fmt::format("no attached document with the SHA-256 {} is stored here", ToHex(get.sha256())));
  }
  if (get.offset() % kAttachmentChunkBytes != 0 || get.offset() >= (*meta)->size()) {
    return Status::InvalidArgument(fmt::format("offset {} is not a multiple of {} within the document's {} bytes",
                                               get.offset(), kAttachmentChunkBytes, (*meta)->size()));
  }
  if (rate_ > 0) {
    const TimePoint now = clock_.Now();
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    if (elapsed > 0) {
      budget_ = std::min(static_cast<double>(rate_), budget_ + elapsed * static_cast<double>(rate_));
      refilled_ = now;
    }
    const uint64_t length = std::min<uint64_t>(kAttachmentChunkBytes, (*meta)->size() - get.offset());
    if (budget_ < static_cast<double>(length)) {
      if (++throttled_ % 1000 == 1) {
        spdlog::info("serving documents at the limit of {} MiB/s: {} requests asked to come again so far",
                     rate_ >> 20, throttled_);
      }
      return Status::Unavailable("this broker serves documents at its limit now; ask again shortly");
    }
    budget_ -= static_cast<double>(length);
  }
  Result<std::optional<std::string>> chunk = store_->GetAttachmentChunk(get.sha256(), get.offset());
  if (!chunk.ok()) return chunk.status();
  if (!*chunk) return Status::Corruption(fmt::format("chunk {} of {} is missing", get.offset(), Short(get.sha256())));
  v1::Envelope reply = NewEnvelope(corr);
  auto* c = reply.mutable_attachment_chunk();
  c->set_sha256(get.sha256());
  c->set_offset(get.offset());
  c->set_size((*meta)->size());
  c->set_media_type((*meta)->media_type());
  c->set_data(std::move(**chunk));
  Answer(routing, reply);
  return Status::Ok();
}

Status Attachments::CheckStored(const v1::Directive& d) const {
  for (int i = 0; i < d.attachments_size(); ++i) {
    const v1::Attachment& a = d.attachments(i);
    Result<std::optional<v1::AttachmentMeta>> meta = Meta(a.sha256());
    if (!meta.ok()) return meta.status();
    const std::string named = fmt::format("attachment {} ({}, SHA-256 {})", i + 1, a.name(), ToHex(a.sha256()));
    if (!*meta || !(*meta)->complete()) {
      return Status::InvalidArgument(named + " is not stored at the broker: upload it first (flatcast-publisher --attach does)");
    }
    if ((*meta)->size() != a.size() || (*meta)->media_type() != a.media_type() || (*meta)->sha1() != a.sha1()) {
      return Status::InvalidArgument(fmt::format(
          "{} declares {} bytes of {}, but the document stored under its SHA-256 is {} bytes of {}{}", named,
          a.size(), a.media_type(), (*meta)->size(), (*meta)->media_type(),
          (*meta)->sha1() != a.sha1() ? " with another SHA-1" : ""));
    }
  }
  return Status::Ok();
}

}  // namespace flatcast::broker
