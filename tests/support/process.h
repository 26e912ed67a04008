// Child processes for integration tests: the real flatcast programs, started
// with posix_spawn, output captured to files in the test's directory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace flatcast::testing {

// Path of a built program, e.g. Program("flatcast-broker").
std::string Program(const std::string& name);
// Path of a file in the source tree, e.g. SourcePath("configs/registry/guizhou-52.tsv").
std::string SourcePath(const std::string& relative);

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal or not started
  std::string out;
  std::string err;
};

// Runs a program to completion (killed after `timeout`).
RunResult Run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Runs the built program `name` (see Program) with `args`.
RunResult RunProgram(const std::string& name, std::vector<std::string> args,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A program running in the background; killed (SIGKILL) on destruction if
// still running.
class Process {
 public:
  // stdout and stderr go to <log_prefix>.out / <log_prefix>.err. The child
  // gets this process's environment plus `extra_env` ("NAME=value" entries,
  // which replace variables of the same name).
  Process(const std::vector<std::string>& argv, const std::filesystem::path& log_prefix,
          const std::vector<std::string>& extra_env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits for exit; returns the exit code, -1 for a signal, nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL if it has not exited within `grace`.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path out_, err_;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// The endpoint a program wrote to `path` (--endpoint-file) once it is ready,
// without its newline; empty when the file did not appear within `timeout`.
std::string WaitForEndpointFile(const std::filesystem::path& path,
                                std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace flatcast::testing
