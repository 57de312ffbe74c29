// Guarded(): runs a store operation and turns any exception (easel::Error from the
// Database layer, std::bad_alloc ...) into a Status, so nothing throws past a store's
// public methods. Internal to src/store.
#pragma once

#include <utility>

#include "util/status.h"

namespace easel::store {

template <class Fn>
auto Guarded(Fn&& fn) -> Result<decltype(fn())> {
  try {
    return fn();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace easel::store
