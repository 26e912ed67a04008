#include "flatcast/bench/mqtt/process.h"

#include <dirent.h>
#include <sys/resource.h>

namespace flatcast::bench::mqtt {

size_t CountOpenDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  size_t count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count > 0 ? count - 1 : 0;  // the directory stream's own descriptor
}

size_t DescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return static_cast<size_t>(limit.rlim_cur);
}

}  // namespace flatcast::bench::mqtt
