// Status and Result<T>: the error currency at module edges.
//
// A Status is either OK or a (code, message) pair whose message a user can act on: it says
// what was read, what was expected and what to try. Result<T> holds a T or a non-OK Status.
// Inside a module code may throw easel::Error; the module's facade turns it into a Status.
// Codes map once to process exit codes (CLI) and HTTP statuses (server).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace easel {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // the request or a flag is wrong: fix the input
  kNotFound,         // a file, model, tensor or name does not exist
  kCorrupt,          // a file breaks its format's rules (truncated, lying header ...)
  kUnsupported,      // valid, but not something Easel can do (yet)
  kIo,               // the operating system refused a read or write
  kOutOfMemory,      // the device or host ran out of memory
  kCancelled,        // the caller asked to stop
  kInternal,         // a bug in Easel
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt: model.safetensors: tensor 'x' ends at byte 90 but the file has 80 bytes".
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {Code::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) {
  return {Code::kNotFound, std::move(m)};
}
inline Status Corrupt(std::string m) {
  return {Code::kCorrupt, std::move(m)};
}
inline Status Unsupported(std::string m) {
  return {Code::kUnsupported, std::move(m)};
}
inline Status IoError(std::string m) {
  return {Code::kIo, std::move(m)};
}
inline Status Internal(std::string m) {
  return {Code::kInternal, std::move(m)};
}

// Thrown inside a module; caught and turned into a Status at its facade.
class Error : public std::runtime_error {
 public:
  explicit Error(Status status)
      : std::runtime_error(status.ToString()), status_(std::move(status)) {}
  Error(Code code, std::string message) : Error(Status(code, std::move(message))) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) v_ = Status(Code::kInternal, "Result built from an OK Status");
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }
  T& operator*() { return checked(); }
  // Returns the value or throws easel::Error with the status.
  T ValueOrThrow() && {
    if (!ok()) throw Error(std::get<Status>(v_));
    return std::move(std::get<T>(v_));
  }

 private:
  T& checked() {
    if (!ok()) throw Error(std::get<Status>(v_));
    return std::get<T>(v_);
  }
  std::variant<T, Status> v_;
};

// Runs fn (which may throw easel::Error, c10::Error or std::exception) and converts any
// exception to a Status: the one place exceptions become values.
template <class Fn>
Status CatchAll(Fn&& fn);

Status StatusFromCurrentException();

template <class Fn>
Status CatchAll(Fn&& fn) {
  try {
    fn();
    return Status::Ok();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace easel

#define EASEL_RETURN_IF_ERROR(expr)        \
  do {                                     \
    ::easel::Status _easel_st = (expr);    \
    if (!_easel_st.ok()) return _easel_st; \
  } while (0)
