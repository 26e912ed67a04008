#include "flatcast/attachment.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "flatcast/signing.h"

namespace flatcast {

namespace {

constexpr std::string_view kPdf = "application/pdf";
constexpr std::string_view kPng = "image/png";
constexpr std::string_view kJpeg = "image/jpeg";

std::string SizeText(uint64_t bytes) {
  if (bytes >= (1u << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1u << 20));
  if (bytes >= (1u << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / (1u << 10));
  return fmt::format("{} bytes", bytes);
}

Status CheckName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("the name is empty");
  if (name.size() > kMaxAttachmentNameBytes) {
    return Status::InvalidArgument(
        fmt::format("the name is {} bytes; the limit is {}", name.size(), kMaxAttachmentNameBytes));
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\' || u < 0x20 || u == 0x7f) {
      return Status::InvalidArgument("the name may not hold \"/\", \"\\\" or control characters");
    }
  }
  if (name == "." || name == "..") return Status::InvalidArgument("the name may not be \".\" or \"..\"");
  return Status::Ok();
}

}  // namespace

bool IsAttachmentMediaType(std::string_view media_type) {
  return media_type == kPdf || media_type == kPng || media_type == kJpeg;
}

std::string SniffMediaType(std::string_view content) {
  if (content.starts_with("%PDF-")) return std::string(kPdf);
  if (content.starts_with(std::string_view("\x89PNG\r\n\x1a\n", 8))) return std::string(kPng);
  if (content.starts_with(std::string_view("\xff\xd8\xff", 3))) return std::string(kJpeg);
  return "";
}

Status CheckAttachments(const v1::Directive& d) {
  if (static_cast<size_t>(d.attachments_size()) > kMaxAttachments) {
    return Status::InvalidArgument(
        fmt::format("{} attachments; the limit is {}", d.attachments_size(), kMaxAttachments));
  }
  std::set<std::string> seen;
  for (int i = 0; i < d.attachments_size(); ++i) {
    const v1::Attachment& a = d.attachments(i);
    const std::string where = fmt::format("attachment {}", i + 1);
    if (Status st = CheckName(a.name()); !st.ok()) return st.WithContext(where);
    const std::string named = fmt::format("{} ({})", where, a.name());
    if (!IsAttachmentMediaType(a.media_type())) {
      return Status::InvalidArgument(fmt::format(
          "{}: media type \"{}\" is not application/pdf, image/png or image/jpeg", named,
          a.media_type().substr(0, 64)));
    }
    if (a.size() == 0 || a.size() > kMaxAttachmentBytes) {
      return Status::InvalidArgument(fmt::format("{}: size {} is not from 1 byte to {}", named,
                                                 a.size(), SizeText(kMaxAttachmentBytes)));
    }
    if (a.sha256().size() != crypto_hash_sha256_BYTES) {
      return Status::InvalidArgument(fmt::format("{}: the SHA-256 is {} bytes, not 32", named, a.sha256().size()));
    }
    if (a.sha1().size() != 20) {
      return Status::InvalidArgument(fmt::format("{}: the SHA-1 is {} bytes, not 20", named, a.sha1().size()));
    }
    if (!seen.insert(a.sha256()).second) {
      return Status::InvalidArgument(fmt::format("{}: the same document is attached twice", named));
    }
  }
  return Status::Ok();
}

struct AttachmentDigest::State {
  crypto_hash_sha256_state sha256;
  EVP_MD_CTX* sha1 = nullptr;
};

AttachmentDigest::AttachmentDigest() : state_(new State) {
  crypto_hash_sha256_init(&state_->sha256);
  state_->sha1 = EVP_MD_CTX_new();
  EVP_DigestInit_ex(state_->sha1, EVP_sha1(), nullptr);
}

AttachmentDigest::~AttachmentDigest() {
  EVP_MD_CTX_free(state_->sha1);
  delete state_;
}

void AttachmentDigest::Update(std::string_view bytes) {
  crypto_hash_sha256_update(&state_->sha256, reinterpret_cast<const unsigned char*>(bytes.data()),
                            bytes.size());
  EVP_DigestUpdate(state_->sha1, bytes.data(), bytes.size());
}

void AttachmentDigest::Finish(std::string* sha256, std::string* sha1) {
  unsigned char out256[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state_->sha256, out256);
  unsigned char out1[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(state_->sha1, out1, &n);
  if (sha256 != nullptr) sha256->assign(reinterpret_cast<const char*>(out256), sizeof(out256));
  if (sha1 != nullptr) sha1->assign(reinterpret_cast<const char*>(out1), n);
}

Result<v1::Attachment> DescribeAttachment(std::string_view name, std::string_view content,
                                          std::string_view media_type) {
  FLATCAST_RETURN_IF_ERROR(CheckName(name).WithContext(fmt::format("attachment \"{}\"", name.substr(0, 64))));
  if (content.empty()) return Status::InvalidArgument(fmt::format("attachment \"{}\" is empty", name));
  if (content.size() > kMaxAttachmentBytes) {
    return Status::InvalidArgument(fmt::format("attachment \"{}\" is {}; the limit is {}", name,
                                               SizeText(content.size()), SizeText(kMaxAttachmentBytes)));
  }
  const std::string sniffed = SniffMediaType(content);
  if (sniffed.empty()) {
    return Status::InvalidArgument(
        fmt::format("attachment \"{}\" is not a PDF, PNG or JPEG file (by its first bytes)", name));
  }
  if (!media_type.empty() && media_type != sniffed) {
    return Status::InvalidArgument(
        fmt::format("attachment \"{}\" is declared {} but its content is {}", name, media_type, sniffed));
  }
  v1::Attachment a;
  a.set_name(std::string(name));
  a.set_media_type(sniffed);
  a.set_size(content.size());
  AttachmentDigest digest;
  digest.Update(content);
  digest.Finish(a.mutable_sha256(), a.mutable_sha1());
  return a;
}

Status VerifyAttachment(const v1::Attachment& attachment, std::string_view content) {
  if (content.size() != attachment.size()) {
    return Status::Corruption(fmt::format("attachment \"{}\" is {} bytes, not the {} its directive declares",
                                        attachment.name(), content.size(), attachment.size()));
  }
  AttachmentDigest digest;
  digest.Update(content);
  std::string sha256;
  digest.Finish(&sha256, nullptr);
  if (sha256 != attachment.sha256()) {
    return Status::Corruption(fmt::format(
        "attachment \"{}\" has the SHA-256 {}, not the {} its directive declares (and its signature covers)",
        attachment.name(), ToHex(sha256), ToHex(attachment.sha256())));
  }
  return Status::Ok();
}

}  // namespace flatcast
