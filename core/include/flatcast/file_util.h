// Files written so that a reader or a crash sees the old content or the new,
// never a part: the one atomic write of flatcast (key files, the key
// registry, registry builds, the terminal's inbox and state, endpoint files).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "flatcast/status.h"

namespace flatcast {

// Closes a descriptor when it goes out of scope.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  // Closes now and returns close()'s result (a deferred write error shows here).
  int Close();

 private:
  int fd_;
};

struct AtomicWriteOptions {
  mode_t mode = 0644;
  // false: fail with AlreadyExists when `path` exists (the new file is
  // linked into place, so a concurrent writer is never overwritten).
  bool replace = true;
};

// Writes `contents` to a temporary file beside `path` (created with mode
// 0600, then given `options.mode`), syncs it, renames (or links) it over
// `path` and syncs the directory, so the new file is durable when this
// returns. Errors name the path and the step; a failed write leaves no
// temporary file behind.
Status WriteFileAtomically(const std::string& path, std::string_view contents,
                           AtomicWriteOptions options = {});

// Syncs the directory that holds `path`, so a rename or a new file in it is durable.
Status SyncDirectoryOf(const std::string& path);

// True for the name of a temporary file WriteFileAtomically left behind when
// the process died mid-write ("<name>.tmp.XXXXXX").
bool IsAtomicWriteLeftover(std::string_view file_name);

// The whole file; IOError (NotFound when it does not exist) naming the path.
Result<std::string> ReadWholeFile(const std::string& path);

// Descriptors this process holds (the entries of /proc/self/fd); 0 when
// that cannot be read.
uint64_t CountOpenFiles();
// The bytes of the regular files under `dir`, recursively; what cannot be
// read counts as 0.
uint64_t DirectoryBytes(const std::string& dir);

// A file mapped read-only into memory, for reading a large file once
// without copying it (a country's key registry is 60 MB). Files here are
// replaced by rename (WriteFileAtomically), never rewritten in place, so
// the mapping stays what was read.
class MappedFile {
 public:
  static Result<MappedFile> Open(const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  ~MappedFile();
  std::string_view data() const { return {static_cast<const char*>(addr_), size_}; }

 private:
  MappedFile() = default;
  void* addr_ = nullptr;
  size_t size_ = 0;
};

// A Status for the errno of a failed system call: "<path>: <what>: <reason>".
Status ErrnoStatus(std::string_view what, const std::string& path, int err);

}  // namespace flatcast
