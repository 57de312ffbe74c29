// The Beta distribution's CDF (the regularized incomplete beta function) and its inverse, in
// double precision: what the "beta" sampling schedule needs from scipy.stats.beta.ppf.
//
// The CDF is evaluated by its continued fraction (modified Lentz), using the symmetry
// I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly; the inverse by bisection,
// which is slow (~60 CDF evaluations) but cannot fail. Accuracy ~1e-14; pure functions.
#pragma once

namespace easel::engine {

// I_x(a, b) for a, b > 0 and x in [0, 1].
double RegularizedIncompleteBeta(double a, double b, double x);

// The x in [0, 1] with I_x(a, b) = q, for q in [0, 1].
double BetaQuantile(double q, double a, double b);

}  // namespace easel::engine
