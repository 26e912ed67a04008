#include "flatcast/broker/fd_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <string>

namespace flatcast::broker {

Result<FdBudget> CheckFdBudget(uint64_t terminals, int rocksdb_max_open_files) {
  FdBudget b;
  b.terminals = terminals;
  b.rocksdb_files = static_cast<uint64_t>(std::max(rocksdb_max_open_files, 0));
  b.reserve = kFdReserve;
  b.needed = b.terminals + b.rocksdb_files + b.reserve;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return Status::IOError("getrlimit(RLIMIT_NOFILE) failed");
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < b.needed) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max == RLIM_INFINITY ? b.needed : std::min<rlim_t>(lim.rlim_max, b.needed);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  b.limit = lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : lim.rlim_cur;
  if (b.limit < b.needed) {
    return Status::InvalidArgument(
        "open-file limit " + std::to_string(b.limit) + " is below the " + std::to_string(b.needed) +
        " descriptors this broker needs (" + std::to_string(b.terminals) + " terminal connections + " +
        std::to_string(b.rocksdb_files) + " for RocksDB (rocksdb_max_open_files) + " +
        std::to_string(b.reserve) +
        " of its own): raise the limit (ulimit -n, or LimitNOFILE= in the systemd unit) or split "
        "the registry over several brokers");
  }
  return b;
}

}  // namespace flatcast::broker
