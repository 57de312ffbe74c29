// Small helpers of the worker protocol (see worker_protocol.h).
#include "server/worker_protocol.h"

namespace easel::worker_protocol {

bool ValidJobId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

const char* CodeId(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kCorrupt: return "corrupt";
    case Code::kUnsupported: return "unsupported";
    case Code::kIo: return "io";
    case Code::kOutOfMemory: return "out_of_memory";
    case Code::kCancelled: return "cancelled";
    case Code::kInternal: return "internal";
  }
  return "internal";
}

Code CodeFromId(const std::string& id) {
  for (Code c : {Code::kOk, Code::kInvalidArgument, Code::kNotFound, Code::kCorrupt,
                 Code::kUnsupported, Code::kIo, Code::kOutOfMemory, Code::kCancelled}) {
    if (id == CodeId(c)) return c;
  }
  return Code::kInternal;
}

}  // namespace easel::worker_protocol
