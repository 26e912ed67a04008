#include "flatcast/broker/fd_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <string>

namespace flatcast::broker {

uint64_t ExpectedConnections(const Registry& registry, const KeyRegistry* admitted,
                             int64_t max_terminals) {
  if (max_terminals > 0) return static_cast<uint64_t>(max_terminals);
  if (admitted == nullptr) return registry.size();
  uint64_t n = 0;
  for (const KeyRecord& r : admitted->records()) {
    if (r.kind != KeyKind::kCurve || r.revoked()) continue;
    if (r.role == KeyRole::kRelay || r.role == KeyRole::kPublic ||
        (r.role == KeyRole::kUnit && registry.Find(r.subject))) {
      ++n;
    }
  }
  return n;
}

Result<FdBudget> CheckFdBudget(uint64_t terminals, int rocksdb_max_open_files) {
  FdBudget b;
  b.terminals = terminals;
  b.rocksdb_files = static_cast<uint64_t>(std::max(rocksdb_max_open_files, 0));
  b.reserve = kFdReserve;
  b.needed = b.terminals + b.rocksdb_files + b.reserve;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return Status::IOError("getrlimit(RLIMIT_NOFILE) failed");
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    // An infinite hard limit: as far as needed and a little more, not "infinite".
    raised.rlim_cur = lim.rlim_max == RLIM_INFINITY ? std::max<rlim_t>(b.needed, 1u << 20)
                                                    : lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  b.limit = lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : lim.rlim_cur;
  if (b.limit < b.needed) {
    return Status::InvalidArgument(
        "open-file limit " + std::to_string(b.limit) + " is below the " + std::to_string(b.needed) +
        " descriptors this broker needs (" + std::to_string(b.terminals) + " terminal connections + " +
        std::to_string(b.rocksdb_files) + " for RocksDB (rocksdb_max_open_files) + " +
        std::to_string(b.reserve) +
        " of its own): raise the limit (ulimit -n, or LimitNOFILE= in the systemd unit), set "
        "max_terminals (--max-terminals) when fewer connect at once, or split the registry over "
        "relays (docs/RELAY.md)");
  }
  return b;
}

}  // namespace flatcast::broker
