#include "flatcast/file_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <fstream>
#include <sstream>

namespace flatcast {

namespace {

constexpr std::string_view kTempMarker = ".tmp.";

}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::Close() {
  int rc = ::close(fd_);
  fd_ = -1;
  return rc;
}

Status ErrnoStatus(std::string_view what, const std::string& path, int err) {
  std::string message = fmt::format("{}: {}: {}", path, what, std::strerror(err));
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(message);
  if (err == ENOENT) return Status::NotFound(message);
  if (err == EEXIST) return Status::AlreadyExists(message);
  return Status::IOError(message);
}

Status SyncDirectoryOf(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("open directory", dir.string(), errno);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync directory", dir.string(), errno);
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view contents,
                           AtomicWriteOptions options) {
  std::string temp = path + std::string(kTempMarker) + "XXXXXX";
  // mkstemp creates the file with mode 0600, so no one else can open it
  // before fchmod sets the final mode.
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("create temporary file", temp, errno);
  auto fail = [&](std::string_view what) {
    Status st = ErrnoStatus(what, temp, errno);
    ::unlink(temp.c_str());
    return st;
  };
  if (::fchmod(fd.get(), options.mode) != 0) return fail("chmod");
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("fsync");
  if (fd.Close() != 0) return fail("close");
  if (options.replace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      Status st = ErrnoStatus("rename into place", path, errno);
      ::unlink(temp.c_str());
      return st;
    }
  } else {
    if (::link(temp.c_str(), path.c_str()) != 0) {
      Status st = ErrnoStatus("create", path, errno);
      ::unlink(temp.c_str());
      return st;
    }
    ::unlink(temp.c_str());
  }
  return SyncDirectoryOf(path);
}

bool IsAtomicWriteLeftover(std::string_view file_name) {
  size_t at = file_name.rfind(kTempMarker);
  return at != std::string_view::npos && file_name.size() - at == kTempMarker.size() + 6;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  // Read into a string of the file's size (one copy: a country's key
  // registry is 60 MB); a file that grows meanwhile is read to its end.
  std::string text;
  text.resize(st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0);
  size_t have = 0;
  for (;;) {
    if (have == text.size()) text.resize(std::max<size_t>(2 * text.size(), 4096));
    ssize_t n = ::read(fd.get(), text.data() + have, text.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path, errno);
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  text.resize(have);
  return text;
}

uint64_t CountOpenFiles() {
  std::error_code ec;
  uint64_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return n > 0 ? n - 1 : 0;  // less the descriptor the listing itself holds
}

uint64_t DirectoryBytes(const std::string& dir) {
  std::error_code ec;
  uint64_t bytes = 0;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const uintmax_t size = it->file_size(size_ec);
      if (!size_ec) bytes += size;
    }
  }
  return bytes;
}

Result<MappedFile> MappedFile::Open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  MappedFile file;
  if (st.st_size == 0) return file;
  void* addr = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (addr == MAP_FAILED) return ErrnoStatus("mmap", path, errno);
  file.addr_ = addr;
  file.size_ = static_cast<size_t>(st.st_size);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : addr_(std::exchange(other.addr_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (addr_ != nullptr) ::munmap(addr_, size_);
    addr_ = std::exchange(other.addr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (addr_ != nullptr) ::munmap(addr_, size_);
}

}  // namespace flatcast
