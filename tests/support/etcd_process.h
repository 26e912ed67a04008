// A real etcd for integration tests: one member on two free loopback ports,
// its data in the test's directory, stopped with the test.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "process.h"

namespace flatcast::testing {

class EtcdProcess {
 public:
  // Starts etcd (from PATH) and waits until it answers; nullptr with `why`
  // set when etcd is not installed or did not come up.
  static std::unique_ptr<EtcdProcess> Start(const std::filesystem::path& dir, std::string* why);
  ~EtcdProcess();

  // "http://127.0.0.1:<port>": its client URL (the v3 gateway).
  const std::string& endpoint() const { return endpoint_; }
  Process& process() { return *process_; }
  // Stops it (SIGKILL) and starts it again on the same ports and data;
  // false when it did not come back.
  bool Restart();
  void Kill();

 private:
  EtcdProcess() = default;
  bool Launch();
  std::filesystem::path dir_;
  std::string endpoint_;
  std::string peer_;
  std::unique_ptr<Process> process_;
  int launches_ = 0;
};

// A TCP port free on 127.0.0.1 just now.
int FreePort();

}  // namespace flatcast::testing
