// The read-only inbox commands of flatcast-subscriber (`list`, `show`). They
// read the state directory directly, so they work with or without a daemon
// running on it.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "flatcast/status.h"

namespace flatcast::subscriber {

// Writes the stored directives in seq order: a table (seq, id, version, sent,
// title), or with `json` a JSON array of objects with seq, id, version,
// title, issuer_unit, sent.
Status ListInboxCommand(const std::string& state_dir, bool json, std::ostream& out);

// Writes one stored directive (`version`, or the highest stored one): its text
// rendering, or with `json` its JSON file. NotFound naming the id when the
// inbox does not hold it.
Status ShowDirectiveCommand(const std::string& state_dir, const std::string& id,
                            std::optional<uint32_t> version, bool json, std::ostream& out);

}  // namespace flatcast::subscriber
