// Process-level helpers shared by the three programs.
#pragma once

#include <atomic>
#include <cstddef>

namespace flatcast::bench::mqtt {

// SIGTERM and SIGINT set the returned flag (and interrupt epoll_wait) instead
// of killing the process, so a program can write its report first.
const std::atomic<bool>& InstallStopSignals();

// Descriptors open in this process now (entries of /proc/self/fd).
size_t CountOpenDescriptors();

// The soft RLIMIT_NOFILE.
size_t DescriptorLimit();

}  // namespace flatcast::bench::mqtt
