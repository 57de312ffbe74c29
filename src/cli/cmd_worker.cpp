// easel worker: one image-generation process serving its server over IPC (the messages are
// listed in server/worker_protocol.h). Started by the server's WorkerSupervisor, one per
// device; a crash here never takes the server down.
//
//   easel worker --connect unix:/tmp/easel.sock --worker-id w0 [--device cpu] [--dtype fp32]
//
// Lifecycle: connect (retrying for --connect-timeout seconds), check the device, say hello,
// then serve messages one at a time on this single thread until "shutdown" (exit 0) or the
// server closes the connection (exit 0). The loaded pipeline stays loaded between jobs and is
// reloaded when a job asks for another model, VAE, dtype or prediction. While a job runs, the
// progress callback reads incoming messages between steps: "cancel" for this job stops it,
// "shutdown" stops it and exits, "ping" is answered, anything else is refused with an error.
// A bad message or request is answered by an error and the worker keeps serving. A device
// that fails (no CUDA at start, a CUDA error in a job) ends the process with exit status 69
// (worker_protocol::kExitDeviceUnusable) so that the supervisor starts a fresh one.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "engine/pipeline/device.h"
#include "engine/pipeline/output.h"
#include "engine/pipeline/preview.h"
#include "engine/pipeline/request_json.h"
#include "engine/pipeline/sd_pipeline.h"
#include "io/png.h"
#include "library/model_hash.h"
#include "server/ipc.h"
#include "server/worker_protocol.h"

namespace easel::cli {
namespace {

namespace wp = worker_protocol;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kSendTimeoutMs = 60000;  // a server that reads nothing for a minute is gone

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct WorkerOptions {
  std::string connect;
  std::string worker_id;
  std::string device = "cpu";
  std::string dtype = "fp32";
  double connect_timeout_s = 10;
};

// What a loaded pipeline was loaded from: a job with another key reloads.
struct PipelineKey {
  std::string model, vae, dtype, prediction;
  int text_heads = 0;
  bool operator==(const PipelineKey& o) const {
    return model == o.model && vae == o.vae && dtype == o.dtype && prediction == o.prediction &&
           text_heads == o.text_heads;
  }
};

// A failure that leaves a CUDA device unusable (as opposed to a bad request or out of memory).
bool IsDeviceFailure(const std::string& device, const Status& st) {
  if (device == "cpu" || st.code() == Code::kOutOfMemory) return false;
  const std::string& m = st.message();
  return m.find("CUDA error") != std::string::npos || m.find("cuDNN error") != std::string::npos ||
         m.find("CUBLAS_STATUS") != std::string::npos ||
         m.find("device-side assert") != std::string::npos;
}

class Worker {
 public:
  Worker(WorkerOptions opts, ipc::Connection conn)
      : opts_(std::move(opts)), conn_(std::move(conn)) {}

  // Serves until shutdown; returns the process exit status.
  int Serve() {
    for (;;) {
      auto r = conn_.Recv(-1);
      if (!r.ok()) {
        if (conn_.read_failed())
          return Fatal("the connection is unreadable: " + r.status().ToString(), wp::kExitProtocol);
        SendError(nullptr, r.status());  // a non-JSON frame: refuse it, keep serving
        continue;
      }
      if (r->state == ipc::RecvState::kClosed) return wp::kExitOk;  // the server went away
      if (r->state != ipc::RecvState::kMessage) continue;
      // Anything thrown is a bug on our side; answer it and keep serving.
      Status st = CatchAll([&] { Handle(r->message); });
      if (!st.ok()) {
        SendError(job_id_.empty() ? JobIdOf(r->message) : json(job_id_), st);
        job_id_.clear();
      }
      if (exit_code_ >= 0) return exit_code_;
    }
  }

 private:
  int Fatal(const std::string& why, int code) {
    std::fprintf(stderr, "easel worker %s: %s\n", opts_.worker_id.c_str(), why.c_str());
    return code;
  }

  void Send(const json& msg) {
    if (exit_code_ >= 0) return;
    Status st = conn_.Send(msg, kSendTimeoutMs);
    if (!st.ok()) exit_code_ = Fatal("cannot reach the server: " + st.ToString(), wp::kExitOk);
  }

  static json JobIdOf(const json& msg) {
    if (msg.is_object() && msg.contains("job_id") && msg["job_id"].is_string())
      return msg["job_id"];
    return nullptr;
  }

  void SendError(const json& job_id, const Status& st) {
    Send({{"type", "error"},
          {"job_id", job_id},
          {"code", wp::CodeId(st.code())},
          {"message", st.message()}});
  }

  // Checks the message's shape; returns its type, or "" after answering an error.
  std::string TypeOf(const json& msg) {
    if (!msg.is_object() || !msg.contains("type") || !msg["type"].is_string()) {
      SendError(JobIdOf(msg), InvalidArgument("a message must be a JSON object with a string "
                                              "'type' (run, cancel, ping or shutdown)"));
      return "";
    }
    return msg["type"].get<std::string>();
  }

  void Handle(const json& msg) {
    const std::string type = TypeOf(msg);
    if (type.empty()) return;
    if (type == "run") {
      RunJob(msg);
    } else if (type == "cancel") {
      // Not running anything: a cancel that crossed our "done" on the wire. Nothing to do.
    } else if (type == "ping") {
      Send({{"type", "pong"}});
    } else if (type == "shutdown") {
      exit_code_ = wp::kExitOk;
    } else {
      SendError(JobIdOf(msg), InvalidArgument("unknown message type '" + type +
                                              "': expected run, cancel, ping or shutdown"));
    }
  }

  // Between steps: reads every waiting message. Returns false to stop the job.
  bool DrainWhileBusy() {
    for (;;) {
      auto r = conn_.Poll();
      if (!r.ok()) {
        if (conn_.read_failed()) {
          exit_code_ =
              Fatal("the connection is unreadable: " + r.status().ToString(), wp::kExitProtocol);
          return false;
        }
        SendError(nullptr, r.status());
        continue;
      }
      if (r->state == ipc::RecvState::kClosed) {
        exit_code_ = wp::kExitOk;
        return false;
      }
      if (r->state == ipc::RecvState::kTimeout) break;
      const json& msg = r->message;
      const std::string type = TypeOf(msg);
      if (type == "cancel") {
        if (JobIdOf(msg) == json(job_id_)) cancel_ = true;
      } else if (type == "shutdown") {
        cancel_ = true;
        shutdown_after_job_ = true;
      } else if (type == "ping") {
        Send({{"type", "pong"}});
      } else if (type == "run") {
        SendError(JobIdOf(msg), InvalidArgument("this worker is busy with job " + job_id_ +
                                                ": send a job only to an idle worker"));
      } else if (!type.empty()) {
        SendError(JobIdOf(msg), InvalidArgument("unknown message type '" + type +
                                                "': expected run, cancel, ping or shutdown"));
      }
    }
    return !cancel_ && exit_code_ < 0;
  }

  bool OnProgress(const engine::Progress& p) {
    json msg = {{"type", "progress"},
                {"job_id", job_id_},
                {"step", p.step},
                {"total", p.total},
                {"seconds_per_step", p.seconds_per_step}};
    // A preview every tenth of the run (every step for short runs), never for the last step:
    // the real image follows at once.
    const int every = std::max(1, p.total / 10);
    const torch::Tensor* x0 = engine::DenoisedOf(p);
    if (x0 != nullptr && p.step % every == 0 && p.step < p.total) {
      auto preview = engine::LatentPreview(*x0, 256);
      if (preview.ok()) {
        auto png = io::EncodePng(preview->rgb.data(), preview->width, preview->height, 3);
        if (png.ok())
          msg["preview"] = {{"mime", "image/png"},
                            {"width", preview->width},
                            {"height", preview->height},
                            {"data", engine::Base64Encode(*png)}};
      }
    }
    Send(msg);
    return DrainWhileBusy();
  }

  // Loads the pipeline the request needs unless it is loaded already.
  Status EnsurePipeline(const engine::GenerateRequest& req, bool* cached, double* load_s) {
    PipelineKey key{req.model_path, req.vae_path, req.dtype, req.prediction, req.text_heads};
    *cached = pipeline_ != nullptr && key == key_;
    *load_s = 0;
    if (*cached) return Status::Ok();
    pipeline_.reset();    // free the old model's memory before loading the next
    model_hash_.reset();  // stops hashing the old model
    auto t0 = Clock::now();
    engine::ModelFileOptions files;
    files.text_heads = req.text_heads;
    auto pipe = engine::SdPipeline::Load(req.model_path, req.vae_path, opts_.device, req.dtype,
                                         req.prediction, files);
    if (!pipe.ok()) return pipe.status();
    pipeline_ = std::move(*pipe);
    key_ = key;
    *load_s = SecondsSince(t0);
    // The hash (for the infotext) is computed while the image is sampled, not before it.
    model_hash_ =
        std::make_unique<library::ModelHashJob>(req.model_path, library::DefaultHashSources());
    return Status::Ok();
  }

  // The loaded model's AutoV2 hash for the infotext ("" when it cannot be had). Usually ready
  // (sampling took longer); else waits for the rest of the hash, answering messages meanwhile,
  // so that a cancel still wins. A correct hash is worth the wait: A1111 users find a model
  // again by the "Model hash" of an image.
  std::string WaitForModelHash() {
    if (!model_hash_) return "";
    while (!model_hash_->WaitFor(100))
      if (!DrainWhileBusy()) return "";
    return engine::AutoV2Of(*model_hash_);
  }

  // Parses a "run" message into a request and an output folder.
  Status ParseRun(const json& msg, engine::GenerateRequest* req, std::string* output_dir) {
    if (!msg.contains("request") || !msg["request"].is_object())
      return InvalidArgument("'request' must be an object (the generation parameters)");
    json request = msg["request"];
    // The worker's device is fixed; the request's dtype defaults to the worker's.
    if (!request.contains("device") || request["device"].is_null()) {
      request["device"] = opts_.device;
    } else if (request["device"].is_string() && request["device"] != opts_.device) {
      return InvalidArgument("this worker runs on " + opts_.device + ", the request asks for " +
                             request["device"].get<std::string>() +
                             ": send it to a worker of that device");
    }
    if (!request.contains("dtype") || request["dtype"].is_null()) request["dtype"] = opts_.dtype;
    auto parsed = engine::RequestFromJson(request);
    if (!parsed.ok()) return parsed.status();
    *req = std::move(*parsed);
    if (!msg.contains("output_dir") || !msg["output_dir"].is_string() ||
        msg["output_dir"].get<std::string>().empty())
      return InvalidArgument("'output_dir' must be a non-empty string (the folder for the PNGs)");
    *output_dir = msg["output_dir"].get<std::string>();
    std::error_code ec;
    std::filesystem::create_directories(*output_dir, ec);
    if (ec) return IoError("cannot create the output folder " + *output_dir + ": " + ec.message());
    return Status::Ok();
  }

  void RunJob(const json& msg) {
    const json id = JobIdOf(msg);
    if (!id.is_string() || !wp::ValidJobId(id.get<std::string>())) {
      SendError(id, InvalidArgument("'job_id' must be 1 to 64 letters, digits, '_' or '-'"));
      return;
    }
    job_id_ = id.get<std::string>();
    cancel_ = false;
    const auto t0 = Clock::now();
    engine::GenerateRequest req;
    std::string output_dir;
    bool cached = false;
    double load_s = 0, generate_s = 0;
    json images = json::array();
    Status st = ParseRun(msg, &req, &output_dir);
    if (st.ok() && req.seed < 0) req.seed = engine::RandomSeed();
    if (st.ok()) st = EnsurePipeline(req, &cached, &load_s);
    if (st.ok()) {
      const auto t1 = Clock::now();
      auto result =
          pipeline_->Txt2Img(req, [this](const engine::Progress& p) { return OnProgress(p); });
      generate_s = SecondsSince(t1);
      // A cancel that came during the VAE decode still wins: no image is written.
      if (result.ok() && exit_code_ < 0) DrainWhileBusy();
      if (!result.ok()) {
        st = result.status();
      } else if (cancel_ || exit_code_ >= 0) {
        st = Status(Code::kCancelled, "cancelled");
      } else {
        const auto t2 = Clock::now();
        const std::string hash = WaitForModelHash();
        const double hash_wait_s = SecondsSince(t2);
        if (cancel_ || exit_code_ >= 0) st = Status(Code::kCancelled, "cancelled");
        const json timings = {{"load_s", load_s}, {"generate_s", generate_s}};
        for (size_t i = 0; i < result->size() && st.ok(); ++i) {
          const std::string path =
              (std::filesystem::path(output_dir) / (job_id_ + "-" + std::to_string(i) + ".png"))
                  .string();
          auto saved = engine::SaveImage(path, (*result)[i], req, pipeline_->info(), hash, timings);
          if (!saved.ok()) {
            st = saved.status();
            break;
          }
          images.push_back({{"path", saved->path},
                            {"sidecar", saved->sidecar_path},
                            {"seed", saved->seed},
                            {"width", saved->width},
                            {"height", saved->height},
                            {"parameters", saved->parameters}});
        }
        if (st.ok()) {
          const engine::ModelInfo& m = pipeline_->info();
          Send({{"type", "done"},
                {"job_id", job_id_},
                {"images", images},
                {"timings",
                 {{"load_s", load_s},
                  {"generate_s", generate_s},
                  {"hash_wait_s", hash_wait_s},
                  {"save_s", SecondsSince(t2)},
                  {"total_s", SecondsSince(t0)}}},
                {"model_cached", cached},
                {"model",
                 {{"name", m.name},
                  {"path", m.path},
                  {"family", m.family},
                  {"prediction", m.prediction},
                  {"hash", hash}}}});
        }
      }
    }
    if (!st.ok()) {
      if (st.code() == Code::kCancelled) {
        Send({{"type", "cancelled"}, {"job_id", job_id_}});
      } else if (IsDeviceFailure(opts_.device, st)) {
        SendError(job_id_,
                  Status(st.code(), "the device " + opts_.device + " failed (" + st.message() +
                                        "); this worker exits and is replaced"));
        exit_code_ = wp::kExitDeviceUnusable;
      } else {
        SendError(job_id_, st);
      }
    }
    if (shutdown_after_job_ && exit_code_ < 0) exit_code_ = wp::kExitOk;
    job_id_.clear();
  }

  WorkerOptions opts_;
  ipc::Connection conn_;
  std::unique_ptr<engine::SdPipeline> pipeline_;
  PipelineKey key_;
  std::unique_ptr<library::ModelHashJob> model_hash_;  // the loaded model's, started at load
  std::string job_id_;                                 // the running job, empty when idle
  bool cancel_ = false;
  bool shutdown_after_job_ = false;
  int exit_code_ = -1;  // >= 0: stop serving and exit with it
};

// Checks that the device can run anything at all (CUDA present and answering).
Status CheckDevice(const std::string& device, const std::string& dtype) {
  auto place = engine::ResolvePlacement(device, dtype);
  if (!place.ok()) return place.status();
  return CatchAll([&] {
    torch::Tensor t = torch::ones({8}, torch::TensorOptions().device(place->device));
    if ((t * 2).sum().item<float>() != 16.0f)
      throw Error(Code::kInternal, "the device " + device + " computed 1*2*8 wrong");
  });
}

Result<ipc::Connection> ConnectWithRetry(const ipc::Address& address, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    auto conn = ipc::Connection::Connect(address, 2000);
    if (conn.ok() || Clock::now() >= deadline) return conn;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

Command AddWorker(CLI::App& app) {
  auto o = std::make_shared<WorkerOptions>();
  CLI::App* sub = app.add_subcommand(
      "worker", "Serve image jobs for an easel server (started by `easel serve`)");
  // Not ->required(): `easel worker llm` (a subcommand) takes its own flags.
  sub->add_option("--connect", o->connect, "Server address: unix:/path.sock or tcp:HOST:PORT");
  sub->add_option("--worker-id", o->worker_id, "This worker's name, as the server knows it");
  sub->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "Default dtype: fp32, fp16 or bf16")->capture_default_str();
  sub->add_option("--connect-timeout", o->connect_timeout_s,
                  "Seconds to keep trying to reach the server")
      ->capture_default_str();

  Command llm = AddWorkerLlm(*sub);

  return [o, sub, llm]() -> Status {
    if (sub->got_subcommand("llm")) return llm();
    if (o->connect.empty() || o->worker_id.empty())
      return InvalidArgument("easel worker: --connect and --worker-id are required");
    auto address = ipc::Address::Parse(o->connect);
    if (!address.ok()) return address.status();
    auto conn = ConnectWithRetry(*address, o->connect_timeout_s);
    if (!conn.ok()) {
      std::fprintf(stderr, "easel worker %s: %s\n", o->worker_id.c_str(),
                   conn.status().ToString().c_str());
      std::exit(wp::kExitConnectFailed);
    }
    Status device = CheckDevice(o->device, o->dtype);
    if (!device.ok()) {
      (void)conn->Send({{"type", "device_error"},
                        {"worker_id", o->worker_id},
                        {"code", wp::CodeId(device.code())},
                        {"message", device.message()}},
                       kSendTimeoutMs);
      std::fprintf(stderr, "easel worker %s: %s\n", o->worker_id.c_str(),
                   device.ToString().c_str());
      std::exit(device.code() == Code::kInvalidArgument ? wp::kExitUsage : wp::kExitDeviceUnusable);
    }
    const char* token = std::getenv(wp::kTokenEnv);
    Status hello = conn->Send({{"type", "hello"},
                               {"worker_id", o->worker_id},
                               {"pid", static_cast<int64_t>(::getpid())},
                               {"device", o->device},
                               {"dtype", o->dtype},
                               {"token", token ? token : ""}},
                              kSendTimeoutMs);
    if (!hello.ok()) std::exit(wp::kExitConnectFailed);
    int code = 0;
    {
      Worker worker(*o, std::move(*conn));
      code = worker.Serve();
    }
    std::fflush(stderr);
    std::exit(code);
  };
}

}  // namespace easel::cli
