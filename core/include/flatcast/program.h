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

// Makes the default logger write to stderr under `program`'s name, one
// event a line, from `level` up (trace, debug, info, warn or error), in
// `format`:
//   "text"     time, level, message
//   "journal"  "<N>message": no time of its own, the level as a syslog
//              priority, which journald reads (SyslogLevelPrefix=)
//   "json"     {"time": ..., "level": ..., "program": ..., "message": ...}
//   ""         "journal" when journald reads the output (JOURNAL_STREAM
//              is set, as systemd sets it), else "text"
void LogToStderr(const std::string& program, const std::string& level = "info",
                 const std::string& format = "");

// Tells systemd (Type=notify) that the program is ready, with a status
// line; nothing when it was not started by systemd (no NOTIFY_SOCKET).
void NotifyReady(const std::string& status);
// Tells systemd that the program is stopping.
void NotifyStopping();

}  // namespace flatcast
