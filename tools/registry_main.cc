// flatcast-registry: builds registry files from the china-division CSVs and
// inspects registry files.
//
//   flatcast-registry build --source DIR (--province 52 | --all) --out FILE
//   flatcast-registry check FILE
//   flatcast-registry subtree FILE CODE
//   flatcast-registry cut FILE CODE --out FILE
//
// Results go to stdout as "<tier> <count>" lines; diagnostics go to stderr.
// Exit status: 0 on success, 1 when the input is refused, 2 on usage errors.
#include <csv.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "flatcast/file_util.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast {
namespace {

// How many anomalies are listed before the rest are only counted.
constexpr size_t kMaxAnomaliesShown = 50;

Result<std::string> ReadFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  std::string text;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) {
    return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  return text;
}

// One CSV record and the 1-based line on which it starts.
struct CsvRecord {
  uint32_t line = 0;
  std::vector<std::string> fields;
};

using RecordHandler = std::function<Status(const CsvRecord&)>;

// State shared with libcsv's C callbacks.
struct CsvContext {
  uint32_t current_line = 0;
  CsvRecord record;
  const RecordHandler* handler = nullptr;
  Status status;
};

void OnCsvField(void* data, size_t size, void* context_ptr) {
  auto* context = static_cast<CsvContext*>(context_ptr);
  if (context->record.fields.empty()) context->record.line = context->current_line;
  context->record.fields.emplace_back(static_cast<const char*>(data), size);
}

void OnCsvRecordEnd(int /*terminator*/, void* context_ptr) {
  auto* context = static_cast<CsvContext*>(context_ptr);
  if (context->status.ok()) context->status = (*context->handler)(context->record);
  context->record.fields.clear();
}

// Reads a CSV file with libcsv in strict mode and hands each record to
// `handler`, stopping at the first error it returns. The file is fed to the
// parser a line at a time so that records know their line number.
Status ReadCsv(const std::string& path, const RecordHandler& handler) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();

  csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
    return Status::Internal("csv_init failed");
  }
  std::unique_ptr<csv_parser, void (*)(csv_parser*)> cleanup(&parser, &csv_free);
  CsvContext context;
  context.handler = &handler;

  std::string_view rest = *text;
  while (!rest.empty() && context.status.ok()) {
    size_t end = rest.find('\n');
    size_t length = end == std::string_view::npos ? rest.size() : end + 1;
    ++context.current_line;
    if (csv_parse(&parser, rest.data(), length, OnCsvField, OnCsvRecordEnd, &context) != length) {
      return Status::InvalidArgument(fmt::format("{}:{}: malformed CSV: {}", path,
                                                 context.current_line,
                                                 csv_strerror(csv_error(&parser))));
    }
    rest.remove_prefix(length);
  }
  if (!context.status.ok()) return context.status;
  if (csv_fini(&parser, OnCsvField, OnCsvRecordEnd, &context) != 0) {
    return Status::InvalidArgument(fmt::format(
        "{}:{}: malformed CSV: {}", path, context.current_line, csv_strerror(csv_error(&parser))));
  }
  return context.status;
}

// A unit as read from the source, with where it was read.
struct SourceUnit {
  std::string code;
  std::string name;
  Tier tier;
  uint32_t file;  // index of the file it came from in SourceReader::paths_
  uint32_t line;
};

// One china-division file: the tier it holds and the columns that name the
// unit's ancestors.
struct TierFile {
  Tier tier;
  const char* file;
  std::vector<std::pair<const char*, Tier>> ancestor_columns;
};

const std::vector<TierFile>& TierFiles() {
  static const std::vector<TierFile> files = {
      {Tier::kProvince, "provinces.csv", {}},
      {Tier::kCity, "cities.csv", {{"provinceCode", Tier::kProvince}}},
      {Tier::kDistrict,
       "areas.csv",
       {{"cityCode", Tier::kCity}, {"provinceCode", Tier::kProvince}}},
      {Tier::kStreet,
       "streets.csv",
       {{"areaCode", Tier::kDistrict},
        {"provinceCode", Tier::kProvince},
        {"cityCode", Tier::kCity}}},
      {Tier::kCommunity,
       "villages.csv",
       {{"streetCode", Tier::kStreet},
        {"provinceCode", Tier::kProvince},
        {"cityCode", Tier::kCity},
        {"areaCode", Tier::kDistrict}}},
  };
  return files;
}

// Reads the five china-division files, parents before children, and checks
// every row: well-formed code of the file's tier, a name that fits a TSV
// field, no duplicate codes, and every ancestor column equal to the code's
// prefix and naming a unit read before. Anomalies are collected rather than
// fatal so that one run lists them all.
class SourceReader {
 public:
  explicit SourceReader(std::string dir) : dir_(std::move(dir)) {}

  Status ReadAll() {
    for (const TierFile& spec : TierFiles()) FLATCAST_RETURN_IF_ERROR(ReadTierFile(spec));
    if (!anomalies_.empty()) {
      return Status::InvalidArgument(
          fmt::format("{} anomalies in {}; refusing to build", anomalies_.size(), dir_));
    }
    return Status::Ok();
  }

  const std::vector<SourceUnit>& units() const { return units_; }
  const std::vector<std::string>& anomalies() const { return anomalies_; }
  std::optional<uint32_t> Find(const std::string& code) const {
    auto it = index_.find(code);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }

 private:
  Status ReadTierFile(const TierFile& spec) {
    std::string path = dir_ + "/" + spec.file;
    paths_.push_back(path);
    int code_column = -1;
    int name_column = -1;
    std::vector<std::pair<int, Tier>> ancestors;
    size_t columns = 0;
    RecordHandler handler = [&](const CsvRecord& record) -> Status {
      if (columns == 0) {  // the header
        columns = record.fields.size();
        auto column = [&](std::string_view name) {
          auto it = std::find(record.fields.begin(), record.fields.end(), name);
          return it == record.fields.end() ? -1 : static_cast<int>(it - record.fields.begin());
        };
        code_column = column("code");
        name_column = column("name");
        if (code_column < 0 || name_column < 0) {
          return Status::InvalidArgument(
              fmt::format("{}:{}: header lacks a code or name column", path, record.line));
        }
        for (const auto& [name, tier] : spec.ancestor_columns) {
          int index = column(name);
          if (index < 0) {
            return Status::InvalidArgument(
                fmt::format("{}:{}: header lacks the {} column", path, record.line, name));
          }
          ancestors.emplace_back(index, tier);
        }
        return Status::Ok();
      }
      CheckRow(spec, path, record, columns, code_column, name_column, ancestors);
      return Status::Ok();
    };
    FLATCAST_RETURN_IF_ERROR(ReadCsv(path, handler));
    if (columns == 0) return Status::InvalidArgument(fmt::format("{}: empty file", path));
    return Status::Ok();
  }

  void CheckRow(const TierFile& spec, const std::string& path, const CsvRecord& record,
                size_t columns, int code_column, int name_column,
                const std::vector<std::pair<int, Tier>>& ancestors) {
    auto anomaly = [&](std::string what) {
      anomalies_.push_back(fmt::format("{}:{}: {}", path, record.line, what));
    };
    if (record.fields.size() != columns) {
      anomaly(fmt::format("{} fields, the header has {}", record.fields.size(), columns));
      return;
    }
    const std::string& code = record.fields[code_column];
    const std::string& name = record.fields[name_column];
    if (TierOfCode(code) != spec.tier) {
      anomaly(fmt::format("code '{}' is not a {} code of {} digits", code, TierName(spec.tier),
                          CodeLength(spec.tier)));
      return;
    }
    if (name.empty() || name.find_first_of("\t\r\n") != std::string::npos) {
      anomaly(fmt::format("name of {} is empty or holds a TAB or line break", code));
      return;
    }
    for (const auto& [column, tier] : ancestors) {
      const std::string& ancestor = record.fields[column];
      std::string_view prefix = std::string_view(code).substr(0, CodeLength(tier));
      if (ancestor != prefix) {
        anomaly(fmt::format("{} {} names {} {}, but its code starts with {}", TierName(spec.tier),
                            code, TierName(tier), ancestor, prefix));
      } else if (index_.find(ancestor) == index_.end()) {
        anomaly(fmt::format("{} {} names {} {}, which is not in the source", TierName(spec.tier),
                            code, TierName(tier), ancestor));
      }
    }
    auto [it, inserted] = index_.emplace(code, static_cast<uint32_t>(units_.size()));
    if (!inserted) {
      const SourceUnit& first = units_[it->second];
      anomaly(
          fmt::format("duplicate code {} (first at {}:{})", code, paths_[first.file], first.line));
      return;
    }
    units_.push_back(
        SourceUnit{code, name, spec.tier, static_cast<uint32_t>(paths_.size() - 1), record.line});
  }

  std::string dir_;
  std::vector<std::string> paths_;  // of the files read so far
  std::vector<SourceUnit> units_;
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::string> anomalies_;
};

std::string CountsLine(const std::array<uint32_t, 6>& counts) {
  std::string line;
  uint32_t total = 0;
  for (Tier tier : kAllTiers) {
    uint32_t count = counts[static_cast<int>(tier)];
    total += count;
    line += fmt::format("{}{} {}", line.empty() ? "" : ", ", TierName(tier), count);
  }
  return fmt::format("{} ({})", total, line);
}

void PrintCounts(const std::array<uint32_t, 6>& counts) {
  uint32_t total = 0;
  for (Tier tier : kAllTiers) {
    uint32_t count = counts[static_cast<int>(tier)];
    total += count;
    fmt::print("{} {}\n", TierName(tier), count);
  }
  fmt::print("total {}\n", total);
}

struct BuildOptions {
  std::string source_dir;
  std::string province;  // empty with --all
  std::string out;
  std::string source_label;
};

Status RunBuild(const BuildOptions& options) {
  SourceReader reader(options.source_dir);
  Status read = reader.ReadAll();
  const auto& anomalies = reader.anomalies();
  for (size_t i = 0; i < anomalies.size() && i < kMaxAnomaliesShown; ++i) {
    spdlog::error("{}", anomalies[i]);
  }
  if (anomalies.size() > kMaxAnomaliesShown) {
    spdlog::error("... and {} more anomalies", anomalies.size() - kMaxAnomaliesShown);
  }
  FLATCAST_RETURN_IF_ERROR(read);

  std::string selection = "all provinces";
  if (!options.province.empty()) {
    if (TierOfCode(options.province) != Tier::kProvince) {
      return Status::InvalidArgument(
          fmt::format("--province {}: a province code has 2 digits", options.province));
    }
    std::optional<uint32_t> province = reader.Find(options.province);
    if (!province) {
      return Status::NotFound(fmt::format("--province {}: not in {}/provinces.csv",
                                          options.province, options.source_dir));
    }
    selection = fmt::format("province {} {}", options.province, reader.units()[*province].name);
  }

  std::vector<const SourceUnit*> selected;
  selected.reserve(reader.units().size());
  std::array<uint32_t, 6> counts{};
  for (const SourceUnit& unit : reader.units()) {
    if (!Registry::IsWithin(unit.code, options.province)) continue;
    selected.push_back(&unit);
    ++counts[static_cast<int>(unit.tier)];
  }
  std::sort(selected.begin(), selected.end(),
            [](const SourceUnit* a, const SourceUnit* b) { return a->code < b->code; });

  std::string text;
  text.reserve(selected.size() * 48);
  text += "# flatcast registry: <code> TAB <tier> TAB <name>, one unit a line, sorted by code.\n";
  text += fmt::format("# Source: {}\n", options.source_label);
  text += fmt::format("# Selection: {}\n", selection);
  text += fmt::format("# Units: {}\n", CountsLine(counts));
  for (const SourceUnit* unit : selected) {
    text += unit->code;
    text += '\t';
    text += TierName(unit->tier);
    text += '\t';
    text += unit->name;
    text += '\n';
  }
  FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(options.out, text));

  // Prove the file loads as a registry and holds what was selected.
  Result<Registry> registry = Registry::Load(options.out);
  if (!registry.ok()) return registry.status().WithContext("the written registry does not load");
  if (registry->CountByTier() != counts) {
    return Status::Internal(fmt::format("{} reloads as {}, expected {}", options.out,
                                        CountsLine(registry->CountByTier()), CountsLine(counts)));
  }
  spdlog::info("wrote {}: {}", options.out, CountsLine(counts));
  PrintCounts(counts);
  return Status::Ok();
}

Status RunCheck(const std::string& path) {
  auto start = std::chrono::steady_clock::now();
  Result<Registry> registry = Registry::Load(path);
  auto elapsed =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  if (!registry.ok()) return registry.status();
  PrintCounts(registry->CountByTier());
  fmt::print("load_ms {:.1f}\n", elapsed.count());
  return Status::Ok();
}

Status RunSubtree(const std::string& path, const std::string& code) {
  Result<Registry> registry = Registry::Load(path);
  if (!registry.ok()) return registry.status();
  if (!registry->Find(code)) {
    return Status::NotFound(fmt::format("{}: no unit with code {}", path, code));
  }
  auto [first, last] = registry->SubtreeRange(code);
  std::array<uint32_t, 6> counts{};
  for (uint32_t i = first; i < last; ++i) ++counts[static_cast<int>(registry->unit(i).tier)];
  PrintCounts(counts);
  return Status::Ok();
}

// The units at or below `code` as a registry file of their own (a relay's,
// docs/RELAY.md): a "# region: CODE" line lets its top units go without
// their parents.
Status RunCut(const std::string& path, const std::string& code, const std::string& out) {
  Result<Registry> registry = Registry::Load(path);
  if (!registry.ok()) return registry.status();
  if (!registry->Find(code)) {
    return Status::NotFound(fmt::format("{}: no unit with code {}", path, code));
  }
  Registry cut = registry->Cut(code);
  std::string text = fmt::format("# flatcast registry: the units at or below {} of {}\n", code, path);
  text += "# region: " + code + "\n";
  for (const Unit& unit : cut.units()) {
    text += fmt::format("{}\t{}\t{}\n", unit.code, TierName(unit.tier), unit.name);
  }
  FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(out, text));
  PrintCounts(cut.CountByTier());
  return Status::Ok();
}

int Main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("flatcast-registry"));
  spdlog::set_pattern("%^%l%$: %v");

  CLI::App app{"Builds and inspects flatcast registry files (administrative units)."};
  app.require_subcommand(1);

  BuildOptions build_options;
  build_options.source_label =
      "china-division 2.7.0 (npm), licence WTFPL, "
      "https://github.com/modood/Administrative-divisions-of-China";
  CLI::App* build = app.add_subcommand(
      "build",
      "Build a registry from the china-division CSVs (provinces, cities, areas, streets, "
      "villages). Every row of the source is verified; any anomaly refuses the build.");
  build->add_option("--source", build_options.source_dir, "Directory holding the five CSV files")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* selection = build->add_option_group("selection", "Which units to write");
  selection->add_option("--province", build_options.province,
                        "Code of the province to write with all its units, e.g. 52");
  bool all = false;
  selection->add_flag("--all", all, "Write every province");
  selection->require_option(1);
  build->add_option("--out", build_options.out, "Registry file to write")->required();
  build
      ->add_option("--source-label", build_options.source_label,
                   "Provenance written into the header comment")
      ->capture_default_str();

  std::string check_file;
  CLI::App* check = app.add_subcommand("check", "Load a registry; print counts and load time");
  check->add_option("FILE", check_file, "Registry file")->required();

  std::string subtree_file;
  std::string subtree_code;
  CLI::App* subtree =
      app.add_subcommand("subtree", "Print counts per tier of the units at or below CODE");
  subtree->add_option("FILE", subtree_file, "Registry file")->required();
  subtree->add_option("CODE", subtree_code, "GB/T 2260 code")->required();

  std::string cut_file, cut_code, cut_out;
  CLI::App* cut = app.add_subcommand(
      "cut", "Write the units at or below CODE as a registry file of their own (for a relay)");
  cut->add_option("FILE", cut_file, "Registry file")->required();
  cut->add_option("CODE", cut_code, "GB/T 2260 code of the region")->required();
  cut->add_option("--out", cut_out, "Registry file to write")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here too, with exit code 0.
    return app.exit(e) == 0 ? 0 : 2;
  }

  Status status;
  if (*build) {
    status = RunBuild(build_options);
  } else if (*check) {
    status = RunCheck(check_file);
  } else if (*subtree) {
    status = RunSubtree(subtree_file, subtree_code);
  } else if (*cut) {
    status = RunCut(cut_file, cut_code, cut_out);
  }
  if (!status.ok()) {
    spdlog::error("{}", status.ToString());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace flatcast

int main(int argc, char** argv) {
  try {
    return flatcast::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flatcast-registry: %s\n", e.what());
    return 1;
  }
}
