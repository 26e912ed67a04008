// Helpers shared by the fuzz targets: a file to hand to loaders that take a
// path, and a small registry to validate fuzzed directives against.
#pragma once

#include <fcntl.h>
#include <google/protobuf/stubs/logging.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "flatcast/registry.h"

namespace flatcast::fuzz {

// protobuf logs every refused string field (invalid UTF-8) to stderr; at
// millions of inputs a second that is only noise.
inline const bool kProtobufLogsDiscarded = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

// One temporary file per process, rewritten with each input. Lives in
// /dev/shm when it exists, so an iteration costs no disk I/O.
class InputFile {
 public:
  // `suffix` is kept on the name (loaders choose the format by extension).
  explicit InputFile(const std::string& suffix) {
    const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + "/flatcast-fuzz-XXXXXX" + suffix;
    fd_ = ::mkstemps(path_.data(), static_cast<int>(suffix.size()));
    if (fd_ < 0) std::abort();
  }
  ~InputFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Replaces the file's contents; returns its path.
  const std::string& Write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Guizhou's province, two cities and a few units below them.
inline const Registry& SmallRegistry() {
  static const Registry registry = [] {
    Result<Registry> r = Registry::Parse(
        "52\tprovince\tGuizhou\n"
        "5201\tcity\tGuiyang\n"
        "520102\tdistrict\tNanming\n"
        "520102001\tstreet\tXinhua Road\n"
        "520102001001\tcommunity\tFushui\n"
        "520102001002\tcommunity\tXinhua\n"
        "520103\tdistrict\tYunyan\n"
        "520103001\tstreet\tQianling\n"
        "520103001001\tcommunity\tQianling East\n"
        "5202\tcity\tLiupanshui\n"
        "520201\tdistrict\tZhongshan\n"
        "520201001\tstreet\tHuangtupo\n"
        "520201001001\tcommunity\tHuangtupo North\n",
        "fuzz-registry");
    if (!r.ok()) std::abort();
    return std::move(r).value();
  }();
  return registry;
}

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// `base` with the input spliced in at a line boundary its first two bytes
// choose (the rest of the input is the fragment); nullopt for an input too
// short to choose. For targets that hide a hostile fragment in a large,
// valid file.
inline std::optional<std::string> SpliceAtLine(const std::string& base, const uint8_t* data,
                                               size_t size) {
  if (size < 2) return std::nullopt;
  size_t at = (static_cast<size_t>(data[0]) << 8 | data[1]) * base.size() / 65536;
  at = base.rfind('\n', at);
  at = at == std::string::npos ? 0 : at + 1;
  std::string text = base.substr(0, at);
  text.append(reinterpret_cast<const char*>(data + 2), size - 2);
  text.append(base, at);
  return text;
}

}  // namespace flatcast::fuzz
