// The messages between the server (its WorkerSupervisor) and an `easel worker` process, over
// an ipc::Connection. One JSON object per frame, always with a "type".
//
// worker -> server
//   {type:"hello", worker_id, pid, device, dtype, token}        first message, once
//   {type:"device_error", worker_id, message}                   instead of hello; then exit 69
//   {type:"progress", job_id, step, total, seconds_per_step [, preview:{mime, width, height,
//     data (base64 PNG)}]}                                       once per denoising step
//   {type:"done", job_id, images:[{path, seed, width, height, parameters}],
//     timings:{load_s, generate_s, save_s, total_s}, model_cached, model:{name, path, family,
//     prediction, hash}}
//   {type:"cancelled", job_id}
//   {type:"error", job_id (null when the message had none), code, message}
//   {type:"pong"}
// server -> worker
//   {type:"run", job_id, request:{GenerateRequest as request_json.h}, output_dir}
//   {type:"cancel", job_id}     honoured between steps; ignored for any other job
//   {type:"ping"}
//   {type:"shutdown"}           the worker stops a running job (answering "cancelled") and
//                               exits 0
// Each "run" ends in exactly one of done | cancelled | error. A worker runs one job at a time;
// a "run" while busy is answered by an error for that job_id.
//
// The worker reads EASEL_WORKER_TOKEN from its environment and repeats it in its hello, so
// that only processes the supervisor started (or were given the token) can take jobs.
#pragma once

#include <string>

#include "util/status.h"

namespace easel::worker_protocol {

inline constexpr char kTokenEnv[] = "EASEL_WORKER_TOKEN";

// Worker exit statuses the supervisor tells apart.
inline constexpr int kExitOk = 0;               // shutdown asked, or the server went away
inline constexpr int kExitUsage = 2;            // bad flags
inline constexpr int kExitConnectFailed = 3;    // could not reach the server
inline constexpr int kExitDeviceUnusable = 69;  // the device failed (no CUDA, a CUDA error):
                                                // replace this process
inline constexpr int kExitProtocol = 76;        // the server spoke something else

// Job ids travel into file names: 1-64 of [A-Za-z0-9_-].
bool ValidJobId(const std::string& id);

// Status codes as message strings: "invalid_argument", "not_found", "corrupt", "unsupported",
// "io", "out_of_memory", "cancelled", "internal"; and back (unknown strings -> kInternal).
const char* CodeId(Code code);
Code CodeFromId(const std::string& id);

}  // namespace easel::worker_protocol
