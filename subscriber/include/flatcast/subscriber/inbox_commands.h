// The read-only inbox commands of flatcast-subscriber (`list`, `show`). They
// read the state directory directly, so they work with or without a daemon
// running on it.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "flatcast/clock.h"
#include "flatcast/status.h"

namespace flatcast::subscriber {

// Writes the latest stored version of each directive in seq order: a table
// (seq, id, version, sent, the unit's acknowledgement, when it becomes public
// and the time left at `now`, title), or with `json` a JSON array of objects
// with seq, id, version, title, issuer_unit, status, sent, cancelled, public
// (the same text as the table), public_release (RFC 3339, when public) and
// acknowledged ("received", "confirmed" or "ready"; "(pending)" appended
// while the broker has not confirmed it).
Status ListInboxCommand(const std::string& state_dir, bool json, std::ostream& out,
                        TimePoint now = SystemClock::Instance().Now());

// Writes what the broker last reported overdue: this unit's own missing
// acknowledgements and its child units' (a street: its communities), as a
// table or, with `json`, as the OverdueReport in proto JSON.
Status OverdueCommand(const std::string& state_dir, bool json, std::ostream& out);

// Writes one stored directive (`version`, or the highest stored one): its text
// rendering at `now` (with the time left before public release), or with
// `json` its JSON file. NotFound naming the id when the inbox does not hold it.
// The text is in the first of `languages` the directive has (language.h).
Status ShowDirectiveCommand(const std::string& state_dir, const std::string& id,
                            std::optional<uint32_t> version, bool json, std::ostream& out,
                            TimePoint now = SystemClock::Instance().Now(),
                            const std::vector<std::string>& languages = {});

}  // namespace flatcast::subscriber
