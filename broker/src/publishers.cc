#include "flatcast/broker/publishers.h"

#include <toml++/toml.h>

namespace flatcast::broker {

Result<PublisherDirectory> PublisherDirectory::Load(const std::string& path,
                                                    const Registry& registry) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.source().begin.line) + ": " +
                                   std::string(e.description()));
  }
  PublisherDirectory dir;
  dir.open_ = false;
  const toml::array* list = table["publisher"].as_array();
  if (list == nullptr) return Status::InvalidArgument(path + ": no [[publisher]] tables");
  for (const auto& node : *list) {
    const toml::table* t = node.as_table();
    if (t == nullptr) return Status::InvalidArgument(path + ": publisher must be a table");
    std::string where = path + ":" + std::to_string(t->source().begin.line);
    Publisher p;
    p.name = (*t)["name"].value_or(std::string());
    p.unit = (*t)["unit"].value_or(std::string());
    p.department = (*t)["department"].value_or(std::string());
    if (p.name.empty() || p.unit.empty() || p.department.empty()) {
      return Status::InvalidArgument(where + ": a publisher needs name, unit and department");
    }
    if (!registry.Addressable(p.unit)) {
      return Status::InvalidArgument(where + ": unit " + p.unit + " is not in the registry");
    }
    if (const toml::array* rights = (*t)["rights"].as_array()) {
      for (const auto& r : *rights) {
        std::string right = r.value_or(std::string());
        if (right == "emergency") {
          p.emergency = true;
        } else if (right == "manage_any") {
          p.manage_any = true;
        } else {
          return Status::InvalidArgument(where + ": unknown right \"" + right +
                                         "\" (emergency, manage_any)");
        }
      }
    }
    if (dir.by_name_.contains(p.name)) {
      return Status::InvalidArgument(where + ": publisher \"" + p.name + "\" listed twice");
    }
    dir.by_name_.emplace(p.name, std::move(p));
  }
  return dir;
}

const Publisher* PublisherDirectory::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second;
}

}  // namespace flatcast::broker
