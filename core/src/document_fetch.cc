#include "flatcast/document_fetch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "flatcast/file_util.h"
#include "flatcast/signing.h"
#include "flatcast/wire.h"

namespace flatcast {

namespace fs = std::filesystem;

namespace {

std::string Named(const WantedDocument& doc) {
  return fmt::format("document \"{}\" (SHA-256 {})", doc.name, ToHex(doc.sha256).substr(0, 16));
}

uint64_t ChunkLength(const WantedDocument& doc, uint64_t offset) {
  return std::min<uint64_t>(kAttachmentChunkBytes, doc.size - offset);
}

}  // namespace

// ---- DirectoryShelf ----

Result<std::unique_ptr<DirectoryShelf>> DirectoryShelf::Open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError(fmt::format("{}: cannot create the documents directory: {}", dir, ec.message()));
  return std::unique_ptr<DirectoryShelf>(new DirectoryShelf(dir));
}

std::string DirectoryShelf::PathOf(std::string_view sha256) const { return dir_ + "/" + ToHex(sha256); }
std::string DirectoryShelf::PartOf(std::string_view sha256) const { return PathOf(sha256) + ".part"; }

bool DirectoryShelf::Complete(const WantedDocument& doc) {
  struct stat st;
  return ::stat(PathOf(doc.sha256).c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == doc.size;
}

uint64_t DirectoryShelf::Held(const WantedDocument& doc) {
  if (Complete(doc)) return doc.size;
  struct stat st;
  if (::stat(PartOf(doc.sha256).c_str(), &st) != 0) return 0;
  // Whole chunks only: a chunk half written when the process stopped is
  // fetched again, and so is the last one of a whole that was never checked.
  const uint64_t held = std::min<uint64_t>(static_cast<uint64_t>(st.st_size), doc.size - 1);
  return held - held % kAttachmentChunkBytes;
}

Status DirectoryShelf::Append(const WantedDocument& doc, uint64_t offset, std::string_view data) {
  const std::string part = PartOf(doc.sha256);
  UniqueFd fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() < 0) return ErrnoStatus("opening", part, errno);
  // What lies beyond `offset` (a chunk half written before a crash) goes.
  if (::ftruncate(fd.get(), static_cast<off_t>(offset)) != 0) return ErrnoStatus("truncating", part, errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd.get(), data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("writing", part, errno);
    done += static_cast<size_t>(n);
  }
  if (fd.Close() != 0) return ErrnoStatus("closing", part, errno);
  return Status::Ok();
}

Status DirectoryShelf::Finish(const WantedDocument& doc) {
  const std::string part = PartOf(doc.sha256);
  Result<std::string> content = ReadWholeFile(part);
  if (!content.ok()) return content.status();
  v1::Attachment declared;
  declared.set_sha256(doc.sha256);
  declared.set_size(doc.size);
  if (Status st = VerifyAttachment(declared, *content); !st.ok()) {
    std::error_code ec;
    fs::remove(part, ec);
    return Status::Corruption(fmt::format("{} refused, nothing of it kept: {}", Named(doc), st.message()));
  }
  {
    UniqueFd fd(::open(part.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0 || ::fsync(fd.get()) != 0) return ErrnoStatus("syncing", part, errno);
  }
  ::chmod(part.c_str(), 0444);
  if (::rename(part.c_str(), PathOf(doc.sha256).c_str()) != 0) return ErrnoStatus("renaming", part, errno);
  return SyncDirectoryOf(part);
}

// ---- HashingShelf ----

HashingShelf::Partial& HashingShelf::PartialOf(const std::string& sha256) {
  for (auto& [key, p] : partial_) {
    if (key == sha256) return p;
  }
  partial_.emplace_back(sha256, Partial{});
  return partial_.back().second;
}

bool HashingShelf::Complete(const WantedDocument& doc) {
  return std::find(complete_.begin(), complete_.end(), doc.sha256) != complete_.end();
}

uint64_t HashingShelf::Held(const WantedDocument& doc) {
  if (Complete(doc)) return doc.size;
  for (auto& [key, p] : partial_) {
    if (key == doc.sha256) return p.held;
  }
  return 0;
}

Status HashingShelf::Append(const WantedDocument& doc, uint64_t offset, std::string_view data) {
  Partial& p = PartialOf(doc.sha256);
  if (offset != p.held) {
    return Status::InvalidArgument(fmt::format("{}: chunk at {} while {} bytes are held", Named(doc), offset, p.held));
  }
  p.digest->Update(data);
  p.held += data.size();
  return Status::Ok();
}

Status HashingShelf::Finish(const WantedDocument& doc) {
  auto it = std::find_if(partial_.begin(), partial_.end(), [&](const auto& e) { return e.first == doc.sha256; });
  if (it == partial_.end()) return Status::NotFound(Named(doc) + ": nothing of it held");
  std::string sha256, sha1;
  it->second.digest->Finish(&sha256, &sha1);
  const uint64_t held = it->second.held;
  partial_.erase(it);
  if (held != doc.size || sha256 != doc.sha256) {
    return Status::Corruption(fmt::format("{} refused, nothing of it kept: its {} bytes have the SHA-256 {}",
                                          Named(doc), held, ToHex(sha256)));
  }
  complete_.push_back(doc.sha256);
  return Status::Ok();
}

// ---- DocumentFetcher ----

DocumentFetcher::DocumentFetcher(const Clock& clock, FetchOptions options)
    : clock_(clock), options_(options), random_(options.seed != 0 ? options.seed : std::random_device{}()) {}

DocumentFetcher::Doc* DocumentFetcher::Find(const std::string& sha256) {
  for (Doc& d : docs_) {
    if (d.p.doc.sha256 == sha256) return &d;
  }
  return nullptr;
}

void DocumentFetcher::Want(const WantedDocument& doc, uint64_t held, bool complete) {
  if (doc.sha256.size() != 32 || doc.size == 0 || Find(doc.sha256) != nullptr) return;
  Doc d;
  d.p.doc = doc;
  d.p.complete = complete;
  d.p.held = complete ? doc.size : std::min(held, doc.size);
  d.due = clock_.Now();
  docs_.push_back(std::move(d));
}

bool DocumentFetcher::IsReply(const v1::Envelope& envelope) {
  if (envelope.body_case() == v1::Envelope::kAttachmentChunk) return true;
  return envelope.body_case() == v1::Envelope::kError && (envelope.correlation_id() & kFetchCorrelationBit) != 0;
}

bool DocumentFetcher::idle() const {
  return std::all_of(docs_.begin(), docs_.end(), [](const Doc& d) { return d.p.complete; });
}

std::vector<DocumentProgress> DocumentFetcher::Progress() const {
  std::vector<DocumentProgress> out;
  for (const Doc& d : docs_) out.push_back(d.p);
  return out;
}

std::optional<std::string> DocumentFetcher::Next() {
  const TimePoint now = clock_.Now();
  if (in_flight_) {
    if (in_flight_->answered || now - in_flight_->sent < options_.answer_timeout) return std::nullopt;
    ++counters_.resent;  // its answer was lost: ask again, under a new id
  }
  Doc* next = nullptr;
  if (in_flight_) {
    next = Find(in_flight_->sha256);
  } else {
    for (Doc& d : docs_) {
      if (!d.p.complete && d.due <= now) {
        next = &d;
        break;
      }
    }
  }
  if (next == nullptr) {
    in_flight_.reset();
    return std::nullopt;
  }
  InFlight f;
  f.sha256 = next->p.doc.sha256;
  f.offset = next->p.held;
  f.correlation = kFetchCorrelationBit | next_correlation_++;
  f.sent = now;
  in_flight_ = f;
  ++counters_.requests;
  v1::Envelope env;
  env.set_protocol_version(wire::kProtocolVersion);
  env.set_correlation_id(f.correlation);
  env.mutable_attachment_get()->set_sha256(f.sha256);
  env.mutable_attachment_get()->set_offset(f.offset);
  return wire::Encode(env);
}

void DocumentFetcher::Later(Doc& doc, std::chrono::milliseconds first, std::chrono::milliseconds most,
                            std::string problem) {
  doc.backoff = std::min(std::max(first, doc.backoff * 2), std::max(first, most));
  std::chrono::milliseconds spread{0};
  if (doc.backoff.count() >= 2) {
    spread = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, doc.backoff.count() / 2)(random_));
  }
  doc.due = clock_.Now() + doc.backoff + spread;
  doc.p.problem = std::move(problem);
}

Result<std::optional<FetchedChunk>> DocumentFetcher::OnReply(const v1::Envelope& envelope) {
  if (!in_flight_ || in_flight_->answered) return std::optional<FetchedChunk>();
  if (envelope.body_case() == v1::Envelope::kError) {
    if (envelope.correlation_id() != in_flight_->correlation) return std::optional<FetchedChunk>();
    Doc* doc = Find(in_flight_->sha256);
    in_flight_.reset();
    ++counters_.errors;
    const v1::Error& e = envelope.error();
    const std::string said = fmt::format("the broker answered {}: {}", v1::ErrorCode_Name(e.code()), e.message());
    if (doc == nullptr) return Status::Unavailable(said);
    const bool busy = e.code() == v1::UNAVAILABLE || e.code() == v1::INTERNAL || e.code() == v1::NO_SPACE ||
                      e.code() == v1::NOT_LEADER;
    if (busy) {
      Later(*doc, options_.busy_retry, options_.busy_retry_max, said);
    } else {
      Later(*doc, options_.missing_retry, options_.retry_max, said);
    }
    return Status::Unavailable(fmt::format("fetching {}: {}; asking again later", Named(doc->p.doc), said));
  }
  if (envelope.body_case() != v1::Envelope::kAttachmentChunk) {
    return Status::InvalidArgument(fmt::format("a {} message is not a document's chunk", wire::BodyName(envelope)));
  }
  const v1::AttachmentChunk& c = envelope.attachment_chunk();
  // A chunk for an earlier request, sent again since: it is the one asked
  // for now only when it fits exactly.
  if (c.sha256() != in_flight_->sha256 || c.offset() != in_flight_->offset) return std::optional<FetchedChunk>();
  Doc* doc = Find(in_flight_->sha256);
  if (doc == nullptr) {
    in_flight_.reset();
    return std::optional<FetchedChunk>();
  }
  const WantedDocument& want = doc->p.doc;
  std::string wrong;
  if (c.size() != want.size || c.media_type() != want.media_type) {
    wrong = fmt::format("the broker holds {} bytes of {} where the directive declares {} bytes of {}", c.size(),
                        c.media_type().substr(0, 64), want.size, want.media_type);
  } else if (c.data().size() != ChunkLength(want, c.offset())) {
    wrong = fmt::format("the chunk at {} holds {} bytes, not {}", c.offset(), c.data().size(),
                        ChunkLength(want, c.offset()));
  }
  if (!wrong.empty()) {
    in_flight_.reset();
    ++counters_.errors;
    Later(*doc, options_.missing_retry, options_.retry_max, wrong);
    return Status::InvalidArgument(fmt::format("fetching {}: {}; asking again later", Named(want), wrong));
  }
  in_flight_->answered = true;
  return std::optional<FetchedChunk>(FetchedChunk{want, c.offset(), c.data()});
}

void DocumentFetcher::Kept(const FetchedChunk& chunk, const Status& verdict) {
  in_flight_.reset();
  Doc* doc = Find(chunk.doc.sha256);
  if (doc == nullptr) return;
  ++counters_.chunks;
  counters_.bytes += chunk.data.size();
  doc->backoff = std::chrono::milliseconds(0);
  doc->p.held = chunk.offset + chunk.data.size();
  if (doc->p.held < doc->p.doc.size) return;
  if (!verdict.ok()) {
    ++counters_.refused;
    doc->p.held = 0;
    Later(*doc, options_.missing_retry, options_.retry_max, verdict.message());
    return;
  }
  ++counters_.completed;
  doc->p.complete = true;
  doc->p.problem.clear();
}

void DocumentFetcher::NotKept(const FetchedChunk& chunk, const Status& why) {
  in_flight_.reset();
  ++counters_.errors;
  if (Doc* doc = Find(chunk.doc.sha256)) Later(*doc, options_.busy_retry, options_.busy_retry_max, why.message());
}

void DocumentFetcher::LinkDown() { in_flight_.reset(); }

Status FetchToShelf(DocumentFetcher& fetcher, DocumentShelf& shelf, const v1::Envelope& reply) {
  Result<std::optional<FetchedChunk>> chunk = fetcher.OnReply(reply);
  if (!chunk.ok()) return chunk.status();
  if (!*chunk) return Status::Ok();
  const FetchedChunk& c = **chunk;
  if (Status st = shelf.Append(c.doc, c.offset, c.data); !st.ok()) {
    fetcher.NotKept(c, st);
    return st;
  }
  if (c.offset + c.data.size() < c.doc.size) {
    fetcher.Kept(c);
    return Status::Ok();
  }
  Status verdict = shelf.Finish(c.doc);
  if (!verdict.ok() && verdict.code() != Status::Code::kCorruption) {
    fetcher.NotKept(c, verdict);  // could not be read back: the last chunk again
    return verdict;
  }
  fetcher.Kept(c, verdict);
  return verdict;
}

void WantAttachments(DocumentFetcher& fetcher, DocumentShelf& shelf, const v1::Directive& d) {
  for (const v1::Attachment& a : d.attachments()) {
    const WantedDocument doc = WantedDocument::Of(a);
    if (doc.sha256.size() != 32 || doc.size == 0 || doc.size > kMaxAttachmentBytes) continue;
    const bool complete = shelf.Complete(doc);
    fetcher.Want(doc, complete ? doc.size : shelf.Held(doc), complete);
  }
}

}  // namespace flatcast
