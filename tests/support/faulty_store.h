// A Store that fails on demand, over a real one (LevelDB's SpecialEnv is the
// model): the next writes fail before anything is written, or after it was
// (a sync that reports failure though the bytes reached the disk); a full
// disk refuses every write until space returns; recovery fails; reads fail.
#pragma once

#include <atomic>
#include <memory>

#include "flatcast/broker/store.h"

namespace flatcast::testing {

class FaultyStore final : public broker::Store {
 public:
  enum class WriteFault {
    kNone,
    kIOError,          // nothing written, IOError
    kSyncAfterApply,   // the batch is applied, yet IOError ("sync failed")
  };

  explicit FaultyStore(std::unique_ptr<broker::Store> real) : real_(std::move(real)) {}

  // The next `count` writes fail with `fault`.
  void FailWrites(int count, WriteFault fault = WriteFault::kIOError) {
    fail_writes_ = count;
    fault_ = fault;
  }
  // While full, every write fails with "No space left on device" and nothing is written.
  void SetDiskFull(bool full) { disk_full_ = full; }
  // The next `count` recoveries after a failed write fail.
  void FailRecoveries(int count) { fail_recoveries_ = count; }
  // While set, every read fails (writes still work).
  void SetReadsFail(bool fail) { reads_fail_ = fail; }

  int writes_attempted() const { return writes_attempted_; }
  int writes_failed() const { return writes_failed_; }
  broker::Store& real() { return *real_; }

  uint64_t head_seq() const override { return real_->head_seq(); }
  broker::StoreHeads heads() const override { return real_->heads(); }
  Status Write(broker::StoreWrite write) override;
  Status Recover() override;
  const broker::ReplicaBatch& last_batch() const override { return real_->last_batch(); }
  const std::string& head_chain() const override { return real_->head_chain(); }
  Status ApplyReplica(const broker::ReplicaBatch& batch, bool sync) override {
    return real_->ApplyReplica(batch, sync);
  }
  Status SyncLog() override { return real_->SyncLog(); }
  Result<std::optional<broker::ReplicaBatch>> GetBatch(uint64_t commit_seq) const override {
    return real_->GetBatch(commit_seq);
  }

  Result<std::optional<v1::StoredDirective>> GetDirective(uint64_t seq) const override;
  Result<std::optional<uint64_t>> SeqOfId(std::string_view id) const override;
  Result<std::optional<uint64_t>> SeqOfIdempotencyKey(std::string_view key) const override;
  Result<uint32_t> DailyCounter(std::string_view key) const override;
  Result<uint64_t> Cursor(std::string_view name) const override;
  Status ForEachCursor(std::string_view prefix,
                       const std::function<void(std::string_view, uint64_t)>& fn) const override;
  Status ForEachCounter(
      const std::function<void(std::string_view, uint32_t)>& fn) const override;
  Status ForEachDirective(
      const std::function<Status(const v1::StoredDirective&)>& fn) const override;
  Status ForEachPublicRecord(const std::function<void(const v1::PublicRecord&)>& fn) const override;
  Status ForEachEvent(std::string_view directive_id,
                      const std::function<void(const v1::LifecycleEvent&)>& fn) const override;
  Status ForEachAck(uint64_t seq, std::string_view region_prefix,
                    const std::function<void(std::string_view, v1::AckLevel,
                                             const v1::AckRecord&)>& fn) const override;
  Result<std::optional<v1::AckRecord>> GetAck(uint64_t seq, std::string_view unit_code,
                                              v1::AckLevel level) const override;
  Status ForEachRating(const std::function<void(uint64_t, std::string_view,
                                                const v1::RatingRecord&)>& fn) const override;
  Result<std::optional<v1::RatingRecord>> GetRating(uint64_t seq,
                                                    std::string_view unit_code) const override;
  Result<std::optional<v1::PublicRecord>> GetPublicRecord(std::string_view id) const override;
  Result<std::optional<v1::AttachmentMeta>> GetAttachmentMeta(std::string_view sha256) const override;
  Result<std::optional<std::string>> GetAttachmentChunk(std::string_view sha256,
                                                        uint64_t offset) const override;
  Status ForEachReturn(uint64_t seq, std::string_view region_prefix,
                       const std::function<void(uint64_t, std::string_view,
                                                const v1::ReturnRecord&)>& fn) const override;
  Status ForEachLogRecord(uint64_t after_log_seq,
                          const std::function<bool(const v1::LogRecord&)>& fn) const override;
  Result<std::optional<v1::LogRecord>> GetLogRecord(uint64_t log_seq) const override;
  Result<uint64_t> HeadLogSeq() const override;
  Result<ChainReport> VerifyLog(uint64_t anchor_log_seq,
                                        const std::string& anchor_hash) const override;

 private:
  Status ReadFault() const;

  std::unique_ptr<broker::Store> real_;
  // Set by a test while a broker's loop runs on another thread.
  std::atomic<int> fail_writes_{0};
  std::atomic<WriteFault> fault_{WriteFault::kNone};
  std::atomic<bool> disk_full_{false};
  bool failed_ = false;  // a write failed; Recover() has not succeeded since
  std::atomic<int> fail_recoveries_{0};
  std::atomic<bool> reads_fail_{false};  // read by the query worker's thread too
  int writes_attempted_ = 0;
  int writes_failed_ = 0;
};

}  // namespace flatcast::testing
