// Latent previews (see preview.h).
#include "engine/pipeline/preview.h"

#include <torch/torch.h>

#include <algorithm>
#include <type_traits>
#include <utility>

namespace easel::engine {
namespace {

// latent channel -> (R, G, B) contribution; the output is roughly in [-1, 1].
constexpr float kLatentRgb[4][3] = {
    {0.298f, 0.207f, 0.208f},
    {0.187f, 0.286f, 0.173f},
    {-0.158f, 0.189f, 0.264f},
    {-0.184f, -0.271f, -0.473f},
};

template <class P, class = void>
struct HasDenoised : std::false_type {};
template <class P>
struct HasDenoised<P, std::void_t<decltype(std::declval<const P&>().denoised)>> : std::true_type {};

// A template, so the branch naming `denoised` is discarded when the field does not exist.
template <class P>
const torch::Tensor* DenoisedIfAny(const P& progress) {
  if constexpr (HasDenoised<P>::value) {
    return progress.denoised.defined() ? &progress.denoised : nullptr;
  } else {
    (void)progress;
    return nullptr;
  }
}

std::string ShapeText(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

Result<PreviewImage> LatentPreview(const torch::Tensor& x0, int max_side) {
  if (!x0.defined()) return InvalidArgument("a preview needs a latent, got an undefined tensor");
  if (x0.dim() != 4 || x0.size(1) != 4 || x0.size(0) < 1 || x0.size(2) < 1 || x0.size(3) < 1)
    return InvalidArgument("a preview needs a [N, 4, h, w] latent, got " + ShapeText(x0));
  PreviewImage out;
  Status st = CatchAll([&] {
    torch::NoGradGuard no_grad;
    torch::Tensor map =
        torch::from_blob(const_cast<float*>(&kLatentRgb[0][0]), {4, 3}, torch::kFloat32);
    // [4, h, w] -> [h, w, 4] @ [4, 3] -> [h, w, 3]
    torch::Tensor z = x0[0].detach().to(torch::kCPU, torch::kFloat32).permute({1, 2, 0});
    torch::Tensor rgb = torch::matmul(z, map);
    const int64_t h = rgb.size(0), w = rgb.size(1);
    const int64_t factor = std::clamp<int64_t>(max_side / std::max(h, w), 1, 8);
    if (factor > 1)  // nearest neighbour: repeat each pixel factor x factor times
      rgb = rgb.repeat_interleave(factor, 0).repeat_interleave(factor, 1);
    torch::Tensor bytes = ((rgb + 1.0) * 127.5).clamp(0.0, 255.0).to(torch::kUInt8).contiguous();
    out.height = static_cast<int>(bytes.size(0));
    out.width = static_cast<int>(bytes.size(1));
    const uint8_t* p = bytes.data_ptr<uint8_t>();
    out.rgb.assign(p, p + bytes.numel());
  });
  if (!st.ok()) return st;
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16 |
                       uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8 |
                       uint32_t{static_cast<uint8_t>(bytes[i + 2])};
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

const torch::Tensor* DenoisedOf(const Progress& progress) {
  return DenoisedIfAny(progress);
}

}  // namespace easel::engine
