// Writing generated images with their metadata (see output.h).
#include "engine/pipeline/output.h"

#include <filesystem>
#include <random>

#include "engine/pipeline/request_json.h"
#include "io/infotext.h"
#include "io/png.h"
#include "library/model_hash.h"
#include "util/files.h"
#include "util/sha256.h"

namespace easel::engine {

int64_t RandomSeed() {
  std::random_device rd;
  return static_cast<int64_t>((uint64_t{rd()} << 32 | rd()) & 0xFFFFFFFFFFFFull);
}

std::string ModelHash(const std::string& model_path) {
  library::ModelHashJob job(model_path, library::DefaultHashSources());
  return AutoV2Of(job);
}

std::string AutoV2Of(const library::ModelHashJob& job) {
  const Result<std::string>& sha = job.Get();
  return sha.ok() ? AutoV2Hash(sha.value()) : std::string();
}

Result<SavedImage> SaveImage(const std::string& png_path, const GeneratedImage& image,
                             const GenerateRequest& request, const ModelInfo& model,
                             const std::string& model_hash, const nlohmann::json& timings) {
  SavedImage saved;
  saved.path = png_path;
  saved.sidecar_path = std::filesystem::path(png_path).replace_extension(".json").string();
  saved.seed = image.seed;
  saved.width = image.width;
  saved.height = image.height;
  saved.parameters = io::FormatInfotext(MakeInfotext(request, model, model_hash, image.seed));
  EASEL_RETURN_IF_ERROR(io::WritePng(png_path, image.rgb.data(), image.width, image.height, 3,
                                     {{"parameters", saved.parameters}}));
  nlohmann::json request_json = RequestToJson(request);
  request_json["batch_seed"] = request.seed;
  request_json["seed"] = image.seed;
  nlohmann::json side = {{"request", request_json},
                         {"parameters", saved.parameters},
                         {"model",
                          {{"name", model.name},
                           {"family", model.family},
                           {"prediction", model.prediction},
                           {"hash", model_hash}}},
                         {"timings", timings}};
  EASEL_RETURN_IF_ERROR(WriteFileAtomic(saved.sidecar_path, side.dump(2) + "\n"));
  return saved;
}

}  // namespace easel::engine
