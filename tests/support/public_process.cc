#include "public_process.h"

#include "broker_process.h"

namespace flatcast::testing {

PublicProcess::PublicProcess(const std::filesystem::path& dir,
                             const std::vector<std::string>& brokers,
                             std::vector<std::string> flags, const std::string& name) {
  const std::filesystem::path url_file = dir / (name + ".url");
  std::filesystem::remove(url_file);
  std::vector<std::string> args{Program("flatcast-public"),
                                "--data-dir", (dir / (name + "-data")).string(),
                                "--registry", GuizhouRegistry(),
                                "--listen", "127.0.0.1:0",
                                "--listen-file", url_file.string()};
  for (const auto& b : brokers) args.insert(args.end(), {"--broker", b});
  args.insert(args.end(), flags.begin(), flags.end());
  process_ = std::make_unique<Process>(args, dir / name);
  url_ = WaitForEndpointFile(url_file);
}

}  // namespace flatcast::testing
