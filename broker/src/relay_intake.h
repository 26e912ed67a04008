// Intake, at a relay (docs/RELAY.md): the versions its upstream sends, in
// the upstream's order, each checked (it reaches a unit of this relay's
// registry, which is its region; with a key registry its publisher's
// signature verifies, so a terminal can verify it too), stored through the
// change queue as the next local version with the upstream's sequence
// number beside it and the upstream cursor in the same synced write, and
// only then fanned out (Delivery: to the terminals and the relays below) and reported as
// stored (UpstreamSink). Owned by the broker's event loop.
#pragma once

#include <cstdint>

#include "change_queue.h"
#include "delivery.h"
#include "directive_index.h"
#include "relay_documents.h"
#include "flatcast.pb.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/store.h"
#include "flatcast/broker/upstream.h"
#include "flatcast/clock.h"
#include "flatcast/key_registry.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

struct RelayIntakeDeps {
  const Registry& registry;  // the relay's region only
  const Clock& clock;
  const KeyRegistry* keys;   // nullptr: open mode, signatures not checked
  DirectiveIndex& index;
  Delivery& delivery;
  CommitPath& commits;
  ChangeQueue& changes;
  UpstreamSink& upstream;
  RelayDocuments* documents = nullptr;  // fetches what stored versions attach
};

class RelayIntake {
 public:
  explicit RelayIntake(const RelayIntakeDeps& deps) : d_(deps) {}

  // The last upstream version stored (the store's "upstream" cursor).
  Status Recover(const Store& store);
  uint64_t cursor() const { return cursor_; }

  // One version as the upstream stored it (its seq the upstream's).
  void OnVersion(v1::StoredDirective version);

 private:
  Status Check(const v1::StoredDirective& version) const;

  RelayIntakeDeps d_;
  uint64_t cursor_ = 0;
};

}  // namespace flatcast::broker
