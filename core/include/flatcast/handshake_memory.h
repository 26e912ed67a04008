// Locked memory for libzmq's CURVE handshakes (docs/SECURITY.md, "Handshake
// memory").
//
// libzmq 4.3 keeps the plaintexts of a CURVE handshake (HELLO, the cookie,
// INITIATE, the vouch) in buffers from libsodium's sodium_allocarray, which
// maps each one as fresh pages between guard pages and locks it: per handshake
// a few dozen mmap, mprotect, mlock and munmap calls, each changing the page
// tables and interrupting every other core to flush its TLB. Profiled on the
// broker while 19,571 terminals connect, those calls were about a third of its
// CPU.
//
// A program that links the CMake target flatcast_handshake_memory (an
// object library, opt-in: the broker, the subscriber daemon and the swarm
// link it) therefore defines sodium_allocarray and sodium_free itself, and
// libzmq binds to these; other users of flatcast_core keep libsodium's. A request of at most kHandshakeBlockBytes is served from one
// pool mapped once at first use, locked into RAM (mlock; left unlocked if the
// limit forbids it) and excluded from core dumps; every block is zeroed when
// freed. Larger requests, a full pool, and memory that came from elsewhere
// go to libsodium's own functions. What the pool gives up is the guard pages
// around each buffer: an overflow in libzmq's handshake code would no longer
// fault at once.
#pragma once

#include <cstddef>

namespace flatcast {

inline constexpr size_t kHandshakeBlockBytes = 2048;
inline constexpr size_t kHandshakeBlocks = 256;

struct HandshakeMemoryStats {
  size_t pooled = 0;    // allocations served from the pool
  size_t fallback = 0;  // allocations passed to libsodium
  size_t in_use = 0;    // pool blocks allocated now
  bool locked = false;  // the pool is mlock'ed
};

// Whether `p` points into the pool.
bool IsHandshakeMemory(const void* p);

// Counters since the start of the process.
HandshakeMemoryStats GetHandshakeMemoryStats();

}  // namespace flatcast
