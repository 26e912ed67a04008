// The broker's open-file budget, checked at start-up rather than hoped for:
// when descriptors run out, libzmq spins on accept() while the extra clients
// hang, which is far worse than refusing to start.
#pragma once

#include <cstdint>

#include "flatcast/status.h"

namespace flatcast::broker {

struct FdBudget {
  uint64_t terminals = 0;      // one TCP connection per unit that may connect
  uint64_t rocksdb_files = 0;  // RocksDB's table cache (max_open_files)
  uint64_t reserve = 0;        // the broker's own: sockets, WAL, logs, CLI peers, stdio
  uint64_t needed = 0;
  uint64_t limit = 0;  // the soft RLIMIT_NOFILE after any raise
};

inline constexpr uint64_t kFdReserve = 64;

// Computes the budget for `terminals` connections. If the soft open-file
// limit is short, raises it as far as the hard limit allows. Refuses, with a
// message saying what to do, when the limit is still short.
Result<FdBudget> CheckFdBudget(uint64_t terminals, int rocksdb_max_open_files);

}  // namespace flatcast::broker
