// Streaming detokenisation with stop strings. See token_stream.h.
#include "llm/token_stream.h"

#include <algorithm>
#include <cstdint>

namespace easel::llm {

namespace {

// Bytes at the end of `s` that start a UTF-8 character not yet complete.
size_t IncompleteTail(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
    const auto b = static_cast<uint8_t>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation: look further back
    const size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    return len > back ? back : 0;
  }
  return 0;
}

}  // namespace

TokenStream::TokenStream(const Tokenizer& tok, std::vector<std::string> stop_strings,
                         bool show_special)
    : tok_(tok), stops_(std::move(stop_strings)), show_special_(show_special) {
  stops_.erase(std::remove(stops_.begin(), stops_.end(), std::string()), stops_.end());
}

std::string TokenStream::Push(int32_t id) {
  if (stopped_ || id < 0 || id >= tok_.vocab_size()) return "";
  if (tok_.IsSpecial(id) && !show_special_) return "";
  pending_ += tok_.TokenBytes(id);
  // A complete stop string ends the stream; the text before it is released.
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, pending_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, first);
    pending_.clear();
    return out;
  }
  // Hold back the longest suffix that is a prefix of some stop string, and an unfinished
  // UTF-8 character.
  size_t hold = IncompleteTail(pending_);
  for (const std::string& s : stops_) {
    for (size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k) {
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string TokenStream::Flush() {
  if (stopped_) return "";
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace easel::llm
