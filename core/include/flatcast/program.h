// Start-up shared by every flatcast program: stopping on a signal and
// logging to stderr.
#pragma once

#include <atomic>
#include <string>

namespace flatcast {

// Installs handlers that make SIGTERM and SIGINT set the returned flag, and
// ignores SIGPIPE (a peer that went away is an error value, not a signal).
// The handlers are installed without SA_RESTART, so a blocking poll or
// epoll_wait returns (EINTR) and the loop sees the flag. Call once from
// main(), before the loop; the flag lives as long as the process.
const std::atomic<bool>& StopOnSignals();

// Makes the default logger write to stderr under `program`'s name, each line
// with its time and level, from `level` up (trace, debug, info, warn or
// error).
void LogToStderr(const std::string& program, const std::string& level = "info");

}  // namespace flatcast
