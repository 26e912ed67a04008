#include "broker_process.h"

#include <algorithm>

namespace flatcast::testing {

const std::string& GuizhouRegistry() {
  static const std::string path = SourcePath("configs/registry/guizhou-52.tsv");
  return path;
}

BrokerProcess::BrokerProcess(const std::filesystem::path& dir, std::vector<std::string> flags,
                             const std::string& name) {
  std::filesystem::remove(dir / "endpoint");
  std::vector<std::string> args{Program("flatcast-broker"), "--init"};
  const std::pair<const char*, std::string> defaults[] = {
      {"--data-dir", (dir / "data").string()},
      {"--registry", GuizhouRegistry()},
      {"--endpoint", "tcp://127.0.0.1:*"},
      {"--endpoint-file", (dir / "endpoint").string()}};
  for (const auto& [flag, value] : defaults) {
    if (std::find(flags.begin(), flags.end(), flag) == flags.end()) {
      args.insert(args.end(), {flag, value});
    }
  }
  args.insert(args.end(), flags.begin(), flags.end());
  process_ = std::make_unique<Process>(args, dir / name);
  endpoint_ = WaitForEndpointFile(dir / "endpoint");
}

}  // namespace flatcast::testing
