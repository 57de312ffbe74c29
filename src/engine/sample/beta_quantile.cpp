// Beta CDF and quantile (see beta_quantile.h).
#include "engine/sample/beta_quantile.h"

#include <cmath>

namespace easel::engine {
namespace {

// The continued fraction of I_x(a, b) (Abramowitz & Stegun 26.5.8):
//   I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 1 / (1 + d1 / (1 + d2 / (1 + ...)))
//   d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
//   d_{2m}   = m (b - m) x / ((a + 2m - 1)(a + 2m))
// evaluated front to back with the modified Lentz method. Converges fast for
// x < (a + 1) / (a + b + 2).
double ContinuedFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEpsilon = 1e-16;
  // Lentz over 1 + 1 / (1 + d1 / (1 + d2 / ...)): the first partial numerator is 1, so the
  // value of the fraction above is f - 1.
  double f = 1.0, c = 1.0, d = 0.0;
  for (int i = 0; i < 1000; ++i) {
    const double m = i / 2;
    double numerator;
    if (i == 0) {
      numerator = 1.0;
    } else if (i % 2 == 0) {
      numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    } else {
      numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
    }
    d = 1.0 + numerator * d;
    if (std::abs(d) < kTiny) d = kTiny;
    d = 1.0 / d;
    c = 1.0 + numerator / c;
    if (std::abs(c) < kTiny) c = kTiny;
    const double delta = c * d;
    f *= delta;
    if (std::abs(1.0 - delta) < kEpsilon) break;
  }
  return f - 1.0;
}

}  // namespace

double RegularizedIncompleteBeta(double a, double b, double x) {
  if (x <= 0) return 0.0;
  if (x >= 1) return 1.0;
  if (x > (a + 1) / (a + b + 2)) return 1.0 - RegularizedIncompleteBeta(b, a, 1.0 - x);
  const double log_beta = std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
  const double front = std::exp(a * std::log(x) + b * std::log1p(-x) - log_beta) / a;
  return front * ContinuedFraction(a, b, x);
}

double BetaQuantile(double q, double a, double b) {
  if (q <= 0) return 0.0;
  if (q >= 1) return 1.0;
  double lo = 0.0, hi = 1.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;  // lo and hi are adjacent doubles
    if (RegularizedIncompleteBeta(a, b, mid) < q) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

}  // namespace easel::engine
