// Process-level helpers shared by the three programs.
#pragma once

#include <cstddef>

namespace flatcast::bench::mqtt {

// Descriptors open in this process now (entries of /proc/self/fd).
size_t CountOpenDescriptors();

// The soft RLIMIT_NOFILE.
size_t DescriptorLimit();

}  // namespace flatcast::bench::mqtt
