// flatcast-bench-load: how long the registry and the key registry take to
// load (docs/BENCHMARKS.md, "National registry and keys"), as a broker or a
// relay loads them at start: Registry::Load and KeyRegistry::Load, each
// `--rounds` times in this process, with the median.
//
//   flatcast-bench-load [--registry FILE] [--keys FILE] [--rounds N]
//
// Prints one JSON object: for each file its size, record count and the
// load times in milliseconds.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "flatcast/key_registry.h"
#include "flatcast/registry.h"

namespace {

using Clock = std::chrono::steady_clock;

size_t Count(const flatcast::Registry& r) { return r.size(); }
size_t Count(const flatcast::KeyRegistry& k) { return k.records().size(); }

// `load` returns what it loaded; it is counted, then freed outside the
// timed span (a broker keeps it).
template <typename Load>
nlohmann::json Time(const std::string& path, int rounds, Load load) {
  std::vector<double> ms;
  size_t records = 0;
  for (int i = 0; i < rounds; ++i) {
    auto start = Clock::now();
    auto loaded = load();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    records = loaded.ok() ? Count(*loaded) : 0;
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  return {{"file", path},
          {"bytes", std::filesystem::file_size(path)},
          {"records", records},
          {"ms", ms},
          {"median_ms", sorted[sorted.size() / 2]}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times loading the registry and the key registry."};
  std::string registry_path, keys_path;
  int rounds = 5;
  app.add_option("--registry", registry_path, "Registry file (TSV)")->check(CLI::ExistingFile);
  app.add_option("--keys", keys_path, "Key registry file (TOML or binary)")
      ->check(CLI::ExistingFile);
  app.add_option("--rounds", rounds, "Loads of each")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  nlohmann::json out = nlohmann::json::object();
  bool failed = false;
  if (!registry_path.empty()) {
    out["registry"] = Time(registry_path, rounds, [&] {
      auto r = flatcast::Registry::Load(registry_path);
      if (!r.ok()) {
        fmt::print(stderr, "{}\n", r.status().ToString());
        failed = true;
      }
      return r;
    });
  }
  if (!keys_path.empty() && !failed) {
    out["keys"] = Time(keys_path, rounds, [&] {
      auto k = flatcast::KeyRegistry::Load(keys_path);
      if (!k.ok()) {
        fmt::print(stderr, "{}\n", k.status().ToString());
        failed = true;
      }
      return k;
    });
  }
  fmt::print("{}\n", out.dump(2));
  return failed ? 1 : 0;
}
