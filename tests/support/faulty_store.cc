#include "faulty_store.h"

namespace flatcast::testing {

namespace {

Status NoSpace() { return Status::IOError("IO error: No space left on device (injected)"); }

}  // namespace

Status FaultyStore::ReadFault() const {
  if (reads_fail_) return Status::IOError("IO error: read failed (injected)");
  return Status::Ok();
}

Status FaultyStore::Write(broker::StoreWrite write) {
  ++writes_attempted_;
  if (disk_full_) {
    ++writes_failed_;
    failed_ = true;
    return NoSpace();
  }
  if (fail_writes_ > 0) {
    --fail_writes_;
    ++writes_failed_;
    failed_ = true;
    if (fault_ == WriteFault::kSyncAfterApply) {
      Status applied = real_->Write(std::move(write));
      if (!applied.ok()) return applied;
      return Status::IOError("IO error: fsync failed (injected)");
    }
    return Status::IOError("IO error: write failed (injected)");
  }
  return real_->Write(std::move(write));
}

Status FaultyStore::Recover() {
  if (!failed_) return real_->Recover();
  if (fail_recoveries_ > 0) {
    --fail_recoveries_;
    return Status::IOError("IO error: recovery failed (injected)");
  }
  if (disk_full_) return NoSpace();
  failed_ = false;
  return real_->Recover();
}

#define FLATCAST_READ(call)                             \
  do {                                                  \
    FLATCAST_RETURN_IF_ERROR(ReadFault());              \
    return real_->call;                                 \
  } while (0)

Result<std::optional<v1::StoredDirective>> FaultyStore::GetDirective(uint64_t seq) const {
  FLATCAST_READ(GetDirective(seq));
}
Status FaultyStore::ForEachReturn(
    uint64_t seq, std::string_view region_prefix,
    const std::function<void(uint64_t, std::string_view, const v1::ReturnRecord&)>& fn) const {
  FLATCAST_READ(ForEachReturn(seq, region_prefix, fn));
}
Result<std::optional<uint64_t>> FaultyStore::SeqOfId(std::string_view id) const {
  FLATCAST_READ(SeqOfId(id));
}
Result<std::optional<uint64_t>> FaultyStore::SeqOfIdempotencyKey(std::string_view key) const {
  FLATCAST_READ(SeqOfIdempotencyKey(key));
}
Result<uint64_t> FaultyStore::Cursor(std::string_view name) const {
  FLATCAST_READ(Cursor(name));
}
Status FaultyStore::ForEachCursor(
    std::string_view prefix, const std::function<void(std::string_view, uint64_t)>& fn) const {
  FLATCAST_READ(ForEachCursor(prefix, fn));
}
Result<uint32_t> FaultyStore::DailyCounter(std::string_view key) const {
  FLATCAST_READ(DailyCounter(key));
}
Status FaultyStore::ForEachCounter(
    const std::function<void(std::string_view, uint32_t)>& fn) const {
  FLATCAST_READ(ForEachCounter(fn));
}
Status FaultyStore::ForEachDirective(
    const std::function<Status(const v1::StoredDirective&)>& fn) const {
  FLATCAST_READ(ForEachDirective(fn));
}
Status FaultyStore::ForEachPublicRecord(
    const std::function<void(const v1::PublicRecord&)>& fn) const {
  FLATCAST_READ(ForEachPublicRecord(fn));
}
Status FaultyStore::ForEachEvent(std::string_view directive_id,
                                 const std::function<void(const v1::LifecycleEvent&)>& fn) const {
  FLATCAST_READ(ForEachEvent(directive_id, fn));
}
Status FaultyStore::ForEachAck(
    uint64_t seq, std::string_view region_prefix,
    const std::function<void(std::string_view, v1::AckLevel, const v1::AckRecord&)>& fn) const {
  FLATCAST_READ(ForEachAck(seq, region_prefix, fn));
}
Result<std::optional<v1::AckRecord>> FaultyStore::GetAck(uint64_t seq, std::string_view unit_code,
                                                         v1::AckLevel level) const {
  FLATCAST_READ(GetAck(seq, unit_code, level));
}
Status FaultyStore::ForEachRating(
    const std::function<void(uint64_t, std::string_view, const v1::RatingRecord&)>& fn) const {
  FLATCAST_READ(ForEachRating(fn));
}
Result<std::optional<v1::RatingRecord>> FaultyStore::GetRating(uint64_t seq,
                                                               std::string_view unit_code) const {
  FLATCAST_READ(GetRating(seq, unit_code));
}
Result<std::optional<v1::AttachmentMeta>> FaultyStore::GetAttachmentMeta(std::string_view sha256) const {
  FLATCAST_READ(GetAttachmentMeta(sha256));
}
Result<std::optional<std::string>> FaultyStore::GetAttachmentChunk(std::string_view sha256,
                                                                   uint64_t offset) const {
  FLATCAST_READ(GetAttachmentChunk(sha256, offset));
}
Result<std::optional<v1::PublicRecord>> FaultyStore::GetPublicRecord(std::string_view id) const {
  FLATCAST_READ(GetPublicRecord(id));
}
Status FaultyStore::ForEachLogRecord(uint64_t after_log_seq,
                                     const std::function<bool(const v1::LogRecord&)>& fn) const {
  FLATCAST_READ(ForEachLogRecord(after_log_seq, fn));
}
Result<std::optional<v1::LogRecord>> FaultyStore::GetLogRecord(uint64_t log_seq) const {
  FLATCAST_READ(GetLogRecord(log_seq));
}
Result<uint64_t> FaultyStore::HeadLogSeq() const { FLATCAST_READ(HeadLogSeq()); }
Result<ChainReport> FaultyStore::VerifyLog(uint64_t anchor_log_seq,
                                           const std::string& anchor_hash) const {
  FLATCAST_READ(VerifyLog(anchor_log_seq, anchor_hash));
}

#undef FLATCAST_READ

}  // namespace flatcast::testing
