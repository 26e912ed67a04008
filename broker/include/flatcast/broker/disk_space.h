// How much room the broker's store has left, and what it still accepts
// when that room runs short. The broker never lets RocksDB reach a full
// disk: it keeps a reserve on the store's filesystem and refuses, before
// writing, what would eat into it, in this order:
//
//   free space after the write   accepted
//   above the reserve            everything
//   within the reserve           acknowledgements, ratings, public releases,
//                                lifecycle events: no new directive version
//                                (publish, amend, cancel, extend, release early)
//   within its last quarter      nothing (the room RocksDB needs to flush, to
//                                compact and to recover is kept)
//
// Acknowledgements are small and are the audit's evidence, so they are the
// last to be refused; a refused one is not confirmed, and its terminal sends
// it again.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "flatcast/broker/store.h"
#include "flatcast/status.h"

namespace flatcast::broker {

// The free space of one filesystem (a seam: tests use a fake).
class DiskSpace {
 public:
  virtual ~DiskSpace() = default;
  // Bytes an unprivileged writer may still use there.
  virtual Result<uint64_t> Available() const = 0;
  // The directory measured, for messages.
  virtual const std::string& path() const = 0;
};

// statvfs(2) of a directory.
std::unique_ptr<DiskSpace> StatvfsDiskSpace(std::string path);

// What a batch would cost the disk: its records twice (the write-ahead log,
// then a table file) and a page of overhead.
uint64_t ApproximateBytes(const StoreWrite& batch);

class SpaceReserve {
 public:
  // `disk` must outlive this object. A reserve of 0 turns the checks off.
  SpaceReserve(const DiskSpace& disk, uint64_t reserve_bytes)
      : disk_(disk), reserve_(reserve_bytes) {}

  enum class Level { kAmple, kWithinReserve, kExhausted };

  // Ok when `batch` fits by the rule above; NoSpace, saying how much is left
  // of the reserve and where to free space, when it does not. A failure to
  // measure lets the write through (the store's own error then decides).
  Status Admit(const StoreWrite& batch) const;
  // Where the free space stands now, and the message for it.
  Level Now(std::string* why = nullptr) const;
  // Start-up: NoSpace unless more than the reserve is free.
  Status CheckAtStart(const std::string& setting) const;

  uint64_t reserve_bytes() const { return reserve_; }

 private:
  Level LevelAt(uint64_t free_after) const;
  std::string Describe(Level level, uint64_t free_bytes) const;

  const DiskSpace& disk_;
  uint64_t reserve_;
};

}  // namespace flatcast::broker
