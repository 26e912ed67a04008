// Documents attached to a directive (docs/PROTOCOL.md, "Attachments"): what
// a directive may carry, the content checked against what it declares, and
// the digests that identify it (SHA-256, signed; SHA-1 for CAP's <digest>).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "flatcast.pb.h"
#include "flatcast/status.h"

namespace flatcast {

inline constexpr size_t kMaxAttachments = 4;
inline constexpr uint64_t kMaxAttachmentBytes = 10ull << 20;  // 10 MiB
inline constexpr uint64_t kAttachmentChunkBytes = 256ull << 10;  // 256 KiB
inline constexpr size_t kMaxAttachmentNameBytes = 200;

// "application/pdf", "image/png" or "image/jpeg".
bool IsAttachmentMediaType(std::string_view media_type);

// The media type `content` begins like (%PDF-, the PNG signature, a JPEG
// SOI marker), or empty when none of them.
std::string SniffMediaType(std::string_view content);

// Ok when the directive's attachments are well formed: at most
// kMaxAttachments, each with a name of 1-200 bytes without "/", "\" or
// control characters, an allowed media type, a size of 1 byte to 10 MiB, a
// 32-byte SHA-256 and a 20-byte SHA-1, no document twice. InvalidArgument
// naming the attachment otherwise.
Status CheckAttachments(const v1::Directive& d);

// The SHA-256 and SHA-1 of a document, computed chunk by chunk.
class AttachmentDigest {
 public:
  AttachmentDigest();
  ~AttachmentDigest();
  AttachmentDigest(const AttachmentDigest&) = delete;
  AttachmentDigest& operator=(const AttachmentDigest&) = delete;
  void Update(std::string_view bytes);
  // The digests of everything updated with; call once.
  void Finish(std::string* sha256, std::string* sha1);

 private:
  struct State;
  State* state_;
};

// An attachment for `content` named `name`: its media type from the content
// (InvalidArgument when it is not a PDF, PNG or JPEG, or when `media_type`
// is given and differs), its size (InvalidArgument beyond 10 MiB or empty)
// and digests.
Result<v1::Attachment> DescribeAttachment(std::string_view name, std::string_view content,
                                          std::string_view media_type = "");

// Ok when `content` is what `attachment` declares: its size and SHA-256
// (Corruption saying which differs otherwise).
Status VerifyAttachment(const v1::Attachment& attachment, std::string_view content);

}  // namespace flatcast
