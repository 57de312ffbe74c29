// The messages between an easel server (llm/worker_backend.h) and an `easel worker llm`
// process (src/cli/cmd_worker_llm.cpp), over an ipc::Connection: one JSON object per frame,
// always with a "type".
//
// server -> worker
//   {type:"chat", id, request:{ChatRequest as llm/chat_json.h}}  one at a time
//   {type:"cancel", id}          stops that chat soon (it ends with done, finish "cancelled")
//   {type:"unload", hard}        soft: drop the KV cache; hard: free the weights too (the next
//                                chat loads them again); a running chat is cancelled first
//   {type:"ping"}
//   {type:"shutdown"}            cancels a running chat and exits 0
// worker -> server
//   {type:"hello", token, model, context_length, weights_bytes, device}  once, after loading
//   {type:"delta", id, text}     text as it is generated (whole UTF-8 characters)
//   {type:"done", id, result:{ChatResult as llm/chat_json.h}, kv_cache_bytes}
//   {type:"error", id (null when the message had none), code, message}   code as
//                                server/worker_protocol.h's CodeId ("invalid_argument" ...)
//   {type:"unloaded", kv_cache_bytes, weights_bytes}                     answers "unload"
//   {type:"pong"}
// Each "chat" ends in exactly one done or error. A "chat" while another runs is answered by
// an error for its id. A worker that cannot load its model sends an error with id null and
// exits with kExitLoadFailed; the server closing the connection makes the worker exit 0.
//
// The worker reads EASEL_WORKER_TOKEN (server/worker_protocol.h kTokenEnv) from its
// environment and repeats it in its hello, so only the process the server started is used.
#pragma once

namespace easel::llm::llm_worker_protocol {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitConnectFailed = 3;
inline constexpr int kExitLoadFailed = 4;  // the model could not be loaded (error sent first)

}  // namespace easel::llm::llm_worker_protocol
