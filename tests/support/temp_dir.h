// A fresh directory per test, removed when the test ends (kept when the
// environment variable FLATCAST_KEEP_TEST_DIRS is set, for post-mortems).
#pragma once

#include <filesystem>
#include <string>

namespace flatcast::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Reads a whole file; empty string if it cannot be read.
std::string ReadFile(const std::filesystem::path& path);
void WriteFile(const std::filesystem::path& path, const std::string& text);

}  // namespace flatcast::testing
