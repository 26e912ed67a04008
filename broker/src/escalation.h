// Deadlines and escalation at the broker: on each heartbeat round it works
// out who is overdue (deadlines.h), records each deadline that passed for
// the first time as a DEADLINE_PASSED event (tried again if that cannot be
// stored), and sends every connected unit whose overdue report changed its
// new one; a unit that says hello gets its report again.
// Owned by the broker's event loop.
#pragma once

#include "change_queue.h"
#include "connections.h"
#include "deadlines.h"
#include "directive_index.h"
#include "flatcast/broker/commit_path.h"
#include "public_release.h"

namespace flatcast::broker {

class Escalation {
 public:
  Escalation(const Registry& registry, DirectiveIndex& index, const PublicRelease& public_side,
             Connections& connections, CommitPath& commits, ChangeQueue& changes)
      : index_(index), public_(public_side), connections_(connections), commits_(commits),
        changes_(changes), overdue_(registry) {}

  // Forgets what was worked out (before it is recovered again).
  void Reset() { overdue_.Reset(); }
  // A passing recorded in the store (recovery): not recorded again.
  void RestorePassed(uint64_t seq, v1::AckLevel level) { overdue_.MarkPassed(seq, level); }
  void Update(TimePoint now);
  // Sends `unit` its report if it has something overdue.
  void OnHello(uint32_t unit, TimePoint now);
  // Units with something of their own overdue, by level, as of the last Update.
  std::array<uint64_t, 4> OverdueUnitsByLevel() const { return overdue_.OverdueUnitsByLevel(); }

 private:
  void Send(uint32_t unit, TimePoint now);

  DirectiveIndex& index_;
  const PublicRelease& public_;
  Connections& connections_;
  CommitPath& commits_;
  ChangeQueue& changes_;
  OverdueTracker overdue_;
};

}  // namespace flatcast::broker
