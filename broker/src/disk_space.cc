#include "flatcast/broker/disk_space.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

namespace flatcast::broker {

namespace {

class Statvfs final : public DiskSpace {
 public:
  explicit Statvfs(std::string path) : path_(std::move(path)) {}
  Result<uint64_t> Available() const override {
    struct statvfs s {};
    if (statvfs(path_.c_str(), &s) != 0) {
      return Status::IOError(fmt::format("statvfs {}: {}", path_, std::strerror(errno)));
    }
    return static_cast<uint64_t>(s.f_bavail) * static_cast<uint64_t>(s.f_frsize);
  }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
};

std::string Megabytes(uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

}  // namespace

std::unique_ptr<DiskSpace> StatvfsDiskSpace(std::string path) {
  return std::make_unique<Statvfs>(std::move(path));
}

uint64_t ApproximateBytes(const StoreWrite& b) {
  uint64_t bytes = 0;
  if (b.directive) bytes += b.directive->ByteSizeLong();
  for (const auto& r : b.public_records) bytes += r.ByteSizeLong();
  for (const auto& e : b.events) bytes += e.ByteSizeLong();
  // Each ack and rating is also a log record with its hash.
  for (const auto& a : b.acks) bytes += a.record.ByteSizeLong() + a.unit_code.size() + 96;
  for (const auto& r : b.ratings) bytes += r.record.ByteSizeLong() + r.unit_code.size() + 96;
  bytes += b.counters.size() * 64;
  for (const auto& c : b.attachment_chunks) bytes += c.data.size() + 64;
  return 2 * bytes + 4096;
}

SpaceReserve::Level SpaceReserve::LevelAt(uint64_t free_after) const {
  if (free_after > reserve_) return Level::kAmple;
  if (free_after > reserve_ / 4) return Level::kWithinReserve;
  return Level::kExhausted;
}

std::string SpaceReserve::Describe(Level level, uint64_t free_bytes) const {
  switch (level) {
    case Level::kAmple:
      return fmt::format("{} free on {}, above the store's reserve of {}", Megabytes(free_bytes),
                         disk_.path(), Megabytes(reserve_));
    case Level::kWithinReserve:
      return fmt::format(
          "the store has {} left of its {} reserve: new directives and changes are refused "
          "(acknowledgements are still stored); free space on {}",
          Megabytes(free_bytes), Megabytes(reserve_), disk_.path());
    case Level::kExhausted:
      break;
  }
  return fmt::format(
      "the store has {} left of its {} reserve, less than its last quarter: nothing more is "
      "stored (acknowledgements are not confirmed, terminals send them again); free space on {}",
      Megabytes(free_bytes), Megabytes(reserve_), disk_.path());
}

Status SpaceReserve::Admit(const StoreWrite& batch) const {
  if (reserve_ == 0) return Status::Ok();
  Result<uint64_t> free = disk_.Available();
  if (!free.ok()) return Status::Ok();
  const uint64_t cost = ApproximateBytes(batch);
  const uint64_t after = *free > cost ? *free - cost : 0;
  const Level level = LevelAt(after);
  // A new directive, or a new document for one, needs room beyond the
  // reserve, which is kept for what the units send about those stored.
  const bool new_content = batch.directive || !batch.attachment_chunks.empty();
  const Level needed = new_content ? Level::kAmple : Level::kWithinReserve;
  if (static_cast<int>(level) <= static_cast<int>(needed)) return Status::Ok();
  return Status::NoSpace(Describe(level, *free));
}

SpaceReserve::Level SpaceReserve::Now(std::string* why) const {
  Result<uint64_t> free = disk_.Available();
  if (reserve_ == 0 || !free.ok()) {
    if (why != nullptr) *why = free.ok() ? "no reserve kept" : free.status().message();
    return Level::kAmple;
  }
  const Level level = LevelAt(*free);
  if (why != nullptr) *why = Describe(level, *free);
  return level;
}

Status SpaceReserve::CheckAtStart(const std::string& setting) const {
  if (reserve_ == 0) return Status::Ok();
  Result<uint64_t> free = disk_.Available();
  if (!free.ok()) return free.status();
  if (*free > reserve_) return Status::Ok();
  return Status::NoSpace(fmt::format(
      "{} has {} free, not more than the store's reserve of {} ({}): free space there or lower "
      "the setting",
      disk_.path(), Megabytes(*free), Megabytes(reserve_), setting));
}

}  // namespace flatcast::broker
