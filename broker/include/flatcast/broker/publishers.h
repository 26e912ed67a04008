// Who may publish: publishers registered with a unit (their jurisdiction), a
// department and rights. Loaded from a TOML file (README.md, "Publishers").
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

struct Publisher {
  std::string name;
  std::string unit;        // jurisdiction: directives' issuer unit
  std::string department;  // directives' issuer department
  bool emergency = false;  // may shorten or end the public hold (with a reason)
  bool manage_any = false; // may amend and cancel directives of other publishers
};

class PublisherDirectory {
 public:
  // An open directory: every name is accepted, with no rights and no
  // jurisdiction check beyond the directive's own issuer. For tests and demos
  // without a publishers file.
  PublisherDirectory() = default;

  // [[publisher]] tables with name, unit, department, rights = ["emergency",
  // "manage_any"]. Units must be in the registry; names unique.
  static Result<PublisherDirectory> Load(const std::string& path, const Registry& registry);

  bool open() const { return open_; }
  // nullptr when the name is unknown (always, for an open directory).
  const Publisher* Find(std::string_view name) const;

 private:
  bool open_ = true;
  std::map<std::string, Publisher, std::less<>> by_name_;
};

}  // namespace flatcast::broker
