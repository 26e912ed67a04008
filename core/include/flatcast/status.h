// Errors as values. Library code returns Status or Result<T>; foreign errors
// (rocksdb::Status, zmq::error_t, protobuf parse failures) are converted where
// they are caught, and main() turns a failed Status into a message and an
// exit code.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace flatcast {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // the input is wrong; the message says how
    kNotFound,
    kAlreadyExists,
    kCorruption,       // stored or received bytes do not decode
    kIOError,          // the operating system or storage failed
    kUnavailable,      // a peer did not answer in time
    kPermissionDenied,
    kTooLarge,
    kNotRegistered,    // a unit or publisher the registry does not know
    kNoSpace,          // the disk is at its reserve: nothing was written
    kInternal,
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status TooLarge(std::string m) { return {Code::kTooLarge, std::move(m)}; }
  static Status NotRegistered(std::string m) { return {Code::kNotRegistered, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid argument: <message>"
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return {code_, context + ": " + message_};
  }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  // A Result made from an ok Status would hold neither value nor error; it
  // becomes an Internal error so the mistake shows instead of passing as success.
  Result(Status status)  // NOLINT: implicit by design
      : v_(status.ok() ? Status::Internal("Result made from an ok Status") : std::move(status)) {}
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace flatcast

#define FLATCAST_RETURN_IF_ERROR(expr)      \
  do {                                      \
    ::flatcast::Status _st = (expr);        \
    if (!_st.ok()) return _st;              \
  } while (0)
