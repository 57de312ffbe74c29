// The model library's routes under /api/v1 (models, presets, styles, zero-config selection):
// thin adapters from http::Request to the JSON handlers of library::LibraryApi and back, with
// errors in the native API's shape (server/errors.h). The endpoint list is in
// library/library_api.h. Wire it in server.cpp next to the other layers:
//     AddLibraryRoutes(router, *library_api);   // library_api outlives the server
//
// Thread-safety: as LibraryApi (handlers run on many threads).
#pragma once

#include "library/library_api.h"
#include "server/http.h"

namespace easel::server {

void AddLibraryRoutes(http::Router& router, library::LibraryApi& api);

}  // namespace easel::server
