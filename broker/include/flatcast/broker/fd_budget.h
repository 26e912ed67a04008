// The broker's open-file budget, checked at start-up rather than hoped for:
// when descriptors run out, libzmq spins on accept() while the extra clients
// hang, which is far worse than refusing to start.
#pragma once

#include <cstdint>

#include "flatcast/key_registry.h"
#include "flatcast/registry.h"
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

// The connections to budget for: `max_terminals` when it is set (> 0);
// otherwise, when connections are admitted by key (`admitted`: the key
// registry the broker's ZAP handler checks), one per active unit key of a
// unit of `registry` and one per active relay key, since no one else gets
// in (a national broker with only relays below it needs a few dozen, not
// one per unit of the country); in open mode one per unit of `registry`.
uint64_t ExpectedConnections(const Registry& registry, const KeyRegistry* admitted,
                             int64_t max_terminals);

// Computes the budget for `terminals` connections. Raises the soft
// open-file limit to the hard limit (so that keys added later, which a
// running broker picks up, still find descriptors). Refuses, with a message
// saying what to do, when the limit is short.
Result<FdBudget> CheckFdBudget(uint64_t terminals, int rocksdb_max_open_files);

}  // namespace flatcast::broker
