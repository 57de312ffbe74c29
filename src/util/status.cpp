#include "util/status.h"

#include <new>

namespace easel {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kCorrupt: return "corrupt";
    case Code::kUnsupported: return "unsupported";
    case Code::kIo: return "i/o error";
    case Code::kOutOfMemory: return "out of memory";
    case Code::kCancelled: return "cancelled";
    case Code::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status StatusFromCurrentException() {
  try {
    throw;
  } catch (const Error& e) {
    return e.status();
  } catch (const std::bad_alloc&) {
    return {Code::kOutOfMemory, "out of memory: try a smaller size or batch"};
  } catch (const std::exception& e) {
    // c10::Error lands here too; its what() includes a C++ stack we keep short.
    std::string what = e.what();
    if (what.find("out of memory") != std::string::npos)
      return {Code::kOutOfMemory, what.substr(0, what.find('\n'))};
    return {Code::kInternal, what.substr(0, what.find("\nException raised from"))};
  } catch (...) {
    return {Code::kInternal, "unknown exception"};
  }
}

}  // namespace easel
