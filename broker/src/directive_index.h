// The broker's in-memory index of stored directives: every version's state
// (what it addresses, who acknowledged it), the latest version of each id,
// idempotency keys, signatures (to refuse replays) and the daily counters
// that number ids. It holds only what the store holds (Recover fills it,
// Add is called once a version is durable), so the loop never reads the
// store for these facts. Owned by the broker's event loop.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "directive_state.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

class DirectiveIndex {
 public:
  // `registry` must outlive the index.
  explicit DirectiveIndex(const Registry& registry) : registry_(registry) {}

  // Forgets everything (before the index is recovered again).
  void Clear();
  // Adds a durable version; it becomes the latest of its id and the version
  // it replaces is superseded.
  DirectiveState& Add(const v1::StoredDirective& stored);

  DirectiveState* Find(uint64_t seq);
  const DirectiveState* Find(uint64_t seq) const;
  // The latest version of directive `id`; nullptr when there is none.
  DirectiveState* Latest(std::string_view id);
  // The version stored with this idempotency key; nullptr when none was.
  const DirectiveState* WithIdempotencyKey(std::string_view key) const;
  bool HasSignature(const std::string& signature) const { return signatures_.contains(signature); }

  // The last value of a daily counter ("<issuer>-<department>-<date>" for
  // ids, "public/..." for public ids); 0 when unused.
  uint32_t Counter(const std::string& key) const;
  void SetCounter(const std::string& key, uint32_t value) { counters_[key] = value; }

  uint64_t head_seq() const { return directives_.empty() ? 0 : directives_.rbegin()->first; }
  size_t size() const { return directives_.size(); }
  // Every version by sequence number, oldest first.
  std::map<uint64_t, DirectiveState>& versions() { return directives_; }
  const std::map<uint64_t, DirectiveState>& versions() const { return directives_; }

 private:
  const Registry& registry_;
  std::map<uint64_t, DirectiveState> directives_;
  std::unordered_map<std::string, uint64_t> latest_of_id_;
  std::unordered_map<std::string, uint64_t> seq_of_key_;
  std::unordered_set<std::string> signatures_;
  std::unordered_map<std::string, uint32_t> counters_;
};

}  // namespace flatcast::broker
