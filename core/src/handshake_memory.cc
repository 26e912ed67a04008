#include "flatcast/handshake_memory.h"

#include <dlfcn.h>
#include <sodium.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <vector>

namespace flatcast {

namespace {

using AllocArrayFn = void* (*)(size_t, size_t);
using FreeFn = void (*)(void*);

class Pool {
 public:
  static Pool& Instance() {
    static Pool* pool = new Pool();  // never destroyed: libzmq may free after exit starts
    return *pool;
  }

  void* Allocate(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) {
      errno = ENOMEM;
      return nullptr;
    }
    const size_t bytes = count * size;
    const bool fits = base_ != nullptr && bytes > 0 && bytes <= kHandshakeBlockBytes;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (fits && !free_.empty()) {
        const size_t index = free_.back();
        free_.pop_back();
        ++stats_.pooled;
        ++stats_.in_use;
        return base_ + index * kHandshakeBlockBytes;
      }
      ++stats_.fallback;
    }
    return real_allocarray_ != nullptr ? real_allocarray_(count, size) : nullptr;
  }

  void Free(void* p) {
    if (p == nullptr) return;
    if (Contains(p)) {
      auto* block = static_cast<unsigned char*>(p);
      const size_t index = static_cast<size_t>(block - base_) / kHandshakeBlockBytes;
      unsigned char* start = base_ + index * kHandshakeBlockBytes;
      sodium_memzero(start, kHandshakeBlockBytes);
      std::lock_guard<std::mutex> lock(mutex_);
      free_.push_back(index);
      --stats_.in_use;
      return;
    }
    if (real_free_ != nullptr) real_free_(p);
  }

  bool Contains(const void* p) const {
    auto* b = static_cast<const unsigned char*>(p);
    return base_ != nullptr && b >= base_ && b < base_ + kHandshakeBlocks * kHandshakeBlockBytes;
  }

  HandshakeMemoryStats Stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  Pool() {
    // libsodium's own functions, for what the pool does not serve; they need
    // libsodium initialised (sodium_init is idempotent and thread-safe).
    if (sodium_init() < 0) return;
    real_allocarray_ = reinterpret_cast<AllocArrayFn>(dlsym(RTLD_NEXT, "sodium_allocarray"));
    real_free_ = reinterpret_cast<FreeFn>(dlsym(RTLD_NEXT, "sodium_free"));
    const size_t total = kHandshakeBlocks * kHandshakeBlockBytes;
    void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;  // everything goes to libsodium
    madvise(p, total, MADV_DONTDUMP);
    stats_.locked = mlock(p, total) == 0;
    base_ = static_cast<unsigned char*>(p);
    free_.reserve(kHandshakeBlocks);
    for (size_t i = kHandshakeBlocks; i > 0; --i) free_.push_back(i - 1);
  }

  AllocArrayFn real_allocarray_ = nullptr;
  FreeFn real_free_ = nullptr;
  unsigned char* base_ = nullptr;
  std::mutex mutex_;
  std::vector<size_t> free_;
  HandshakeMemoryStats stats_;
};

}  // namespace

bool IsHandshakeMemory(const void* p) { return Pool::Instance().Contains(p); }

HandshakeMemoryStats GetHandshakeMemoryStats() { return Pool::Instance().Stats(); }

}  // namespace flatcast

// The two functions libzmq calls for its handshake buffers. Defined in the
// program, they come before libsodium's in the dynamic linker's lookup.
extern "C" void* sodium_allocarray(size_t count, size_t size) {
  return flatcast::Pool::Instance().Allocate(count, size);
}

extern "C" void sodium_free(void* ptr) { flatcast::Pool::Instance().Free(ptr); }
