#include "flatcast/status.h"

namespace flatcast {

std::string Status::ToString() const {
  const char* name = "ok";
  switch (code_) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: name = "invalid argument"; break;
    case Code::kNotFound: name = "not found"; break;
    case Code::kAlreadyExists: name = "already exists"; break;
    case Code::kCorruption: name = "corruption"; break;
    case Code::kIOError: name = "I/O error"; break;
    case Code::kUnavailable: name = "unavailable"; break;
    case Code::kPermissionDenied: name = "permission denied"; break;
    case Code::kTooLarge: name = "too large"; break;
    case Code::kNotRegistered: name = "not registered"; break;
    case Code::kNoSpace: name = "no space"; break;
    case Code::kInternal: name = "internal error"; break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace flatcast
