// Errors as values for the Mosquitto benchmark tools: library code returns a
// Status or a Result, and only the programs' main() turns them into messages
// and exit codes.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace flatcast::bench::mqtt {

class Status {
 public:
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  Status() = default;
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}

  bool failed_ = false;
  std::string message_;
};

// A value or the error that prevented it. Constructing one from an ok Status
// is a programming error.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  Result(Status error) : value_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(value_); }
  T& value() { return std::get<T>(value_); }
  const T& value() const { return std::get<T>(value_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(value_); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace flatcast::bench::mqtt
