// A real flatcast-broker for an integration test: the committed Guizhou
// registry, a store in the test's directory, a port the kernel picks, and
// its endpoint once it listens.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process.h"

namespace flatcast::testing {

// configs/registry/guizhou-52.tsv in the source tree.
const std::string& GuizhouRegistry();

class BrokerProcess {
 public:
  // Starts `flatcast-broker --init --data-dir <dir>/data --registry
  // <Guizhou> --endpoint tcp://127.0.0.1:* --endpoint-file <dir>/endpoint`
  // and `flags` (one of those four in `flags` replaces its default), logs
  // in <dir>/<name>.out/.err, and waits until it listens. The test fails
  // (ASSERT in the caller: check ok()) when it does not come up.
  BrokerProcess(const std::filesystem::path& dir, std::vector<std::string> flags = {},
                const std::string& name = "broker");

  bool ok() const { return !endpoint_.empty(); }
  // The endpoint it bound, e.g. "tcp://127.0.0.1:40123".
  const std::string& endpoint() const { return endpoint_; }
  Process& process() { return *process_; }
  bool running() { return process_->running(); }
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) { return process_->Stop(grace); }
  void Signal(int sig) { process_->Signal(sig); }
  std::optional<int> Wait(std::chrono::milliseconds timeout) { return process_->Wait(timeout); }
  std::string Stderr() const { return process_->Stderr(); }

 private:
  std::unique_ptr<Process> process_;
  std::string endpoint_;
};

}  // namespace flatcast::testing
