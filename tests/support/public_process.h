// A real flatcast-public for an integration test: its own copy in the
// test's directory, the committed Guizhou registry, an HTTP port the kernel
// picks, fed by the broker endpoints given.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process.h"

namespace flatcast::testing {

class PublicProcess {
 public:
  // Starts `flatcast-public --broker E... --data-dir <dir>/<name>-data
  // --registry <Guizhou> --listen 127.0.0.1:0 --listen-file <dir>/<name>.url`
  // and `flags`, and waits until it listens (check ok()).
  PublicProcess(const std::filesystem::path& dir, const std::vector<std::string>& brokers,
                std::vector<std::string> flags = {}, const std::string& name = "public");

  bool ok() const { return !url_.empty(); }
  // "http://127.0.0.1:PORT".
  const std::string& url() const { return url_; }
  Process& process() { return *process_; }
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) { return process_->Stop(grace); }
  std::string Stderr() const { return process_->Stderr(); }

 private:
  std::unique_ptr<Process> process_;
  std::string url_;
};

}  // namespace flatcast::testing
