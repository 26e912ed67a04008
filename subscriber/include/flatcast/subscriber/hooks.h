// Terminals that act (README, "Hooks"): commands the terminal daemon runs
// for each new directive and each overdue report, as ntfy runs its
// commands. A hook is run with Boost.Process, never through a shell: the
// event as JSON on its standard input, a few FLATCAST_* environment
// variables, a timeout after which it is killed, its exit status and the
// first 4 KiB of its output logged (the rest counted and dropped). Hooks run
// one at a time on a thread of their own from a bounded queue, so a hook
// that hangs, fails or floods its output never holds up storing or
// acknowledging a directive.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "flatcast/status.h"

namespace flatcast::subscriber {

struct HookConfig {
  std::string on;                    // "directive" or "overdue"
  std::vector<std::string> command;  // an absolute path, then its arguments
  std::chrono::seconds timeout{10};  // then the command is killed (SIGKILL)
};

// Ok for a hook that can run: `on` known, an absolute path to an executable
// file, a timeout of 1 to 600 s.
Status CheckHookConfig(const HookConfig& hook);

// What a hook is run for.
struct HookEvent {
  std::string on;     // "directive" or "overdue"
  std::string what;   // for the log, e.g. "52-HEALTH-20261207-0001 v1"
  std::string input;  // JSON, on the command's standard input
  std::vector<std::pair<std::string, std::string>> env;  // FLATCAST_* variables
};

struct HookOutcome {
  bool started = false;
  std::string error;        // why it did not start
  bool timed_out = false;   // killed at its timeout
  bool cancelled = false;   // killed because the daemon stops
  int exit_code = -1;       // its exit status; -1 when a signal ended it
  int signal = 0;           // the signal that ended it (SIGKILL at a timeout), else 0
  std::string output;       // standard output and error, at most kMaxHookOutput bytes
  uint64_t dropped = 0;     // output bytes beyond that
  double seconds = 0;
};

inline constexpr size_t kMaxHookOutput = 4096;

// Runs one hook for one event and waits for it (at most its timeout and a
// moment to collect it), or until `cancel` turns true (then it is killed as
// at its timeout). The hook runs in a process group of its own, which a
// timeout kills whole, with only its standard streams open. The environment holds PATH, LANG and the event's
// variables only. The first call makes the process ignore SIGPIPE (a hook
// that does not read its input must not end the daemon).
HookOutcome RunHook(const HookConfig& hook, const HookEvent& event,
                    const std::atomic<bool>* cancel = nullptr);

// The daemon's hooks on their own thread.
class HookRunner {
 public:
  explicit HookRunner(std::vector<HookConfig> hooks, size_t max_queue = 256);
  ~HookRunner();  // the hook running is killed; the queue is dropped
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  // Queues the event for every hook on it; never waits. A full queue drops
  // the event and logs it.
  void Post(HookEvent event);
  bool empty() const { return hooks_.empty(); }

  // Runs and failures so far (a failure: not started, timed out, non-zero exit).
  uint64_t runs() const;
  uint64_t failures() const;
  // Blocks until the queue is empty and no hook runs (tests).
  void Drain();

 private:
  void Work();

  std::vector<HookConfig> hooks_;
  size_t max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<HookEvent> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};  // stop_, read by a running hook
  uint64_t runs_ = 0;
  uint64_t failures_ = 0;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace flatcast::subscriber
