"""Dev tool: fit the Chebyshev coefficients that minibert's ``erf`` uses.

NumPy has no ``erf``, and GELU needs one. minibert writes erfc(z) for z >= 0 as

    erfc(z) = t * exp(-z**2 + f(t)),    t = 2 / (2 + z)

(the form Numerical Recipes uses for its short ``erfcc``): f is smooth and slowly
varying on t in (0, 1], so a low-degree Chebyshev series fits it to double
precision. This script fits f on z in [0, 6] (past 6, erfc(z) < 2.2e-17, so erf is
1 in double precision) at Chebyshev nodes, using Python's ``math.erfc`` (correctly
rounded to within an ulp or so) for the target values, and prints the coefficients
and the worst absolute error of the resulting erf on a dense grid.

Usage:  python tools/fit_erf.py [degree] [z_max]
minibert uses degree 18 on [0, 6] for float64 and degree 8 on [0, 4] for float32
(past 4, erfc(z) < 1.6e-8, below float32's resolution near 1). minibert.functional
evaluates the fitted series by Horner's rule after rewriting it as a plain polynomial in u.
"""

import math
import sys

import numpy as np
from numpy.polynomial import chebyshev

def f_of_t(t):
    z = 2.0 / t - 2.0
    return np.array([math.log(math.erfc(zz) / tt) + zz * zz for zz, tt in zip(z, t)])


def main():
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 18
    Z_MAX = float(sys.argv[2]) if len(sys.argv) > 2 else 6.0
    T_MIN = 2.0 / (2.0 + Z_MAX)  # t runs over [T_MIN, 1]
    n = 400
    u = np.cos(np.pi * (np.arange(n) + 0.5) / n)  # Chebyshev nodes on [-1, 1]
    t = T_MIN + (u + 1.0) / 2.0 * (1.0 - T_MIN)
    coef = chebyshev.chebfit(u, f_of_t(t), degree)
    z = np.linspace(0.0, Z_MAX, 200001)
    tt = 2.0 / (2.0 + z)
    uu = (tt - T_MIN) / (1.0 - T_MIN) * 2.0 - 1.0
    erfc = tt * np.exp(-z * z + chebyshev.chebval(uu, coef))
    worst = np.abs(erfc - np.array([math.erfc(v) for v in z])).max()
    beyond = math.erfc(Z_MAX)  # the error of calling erf(z) = 1 past Z_MAX
    print(f"degree {degree}: worst |erf error| on [0, {Z_MAX}] = {worst:.2e}; erfc({Z_MAX}) = {beyond:.1e}")
    print("_ERFC_CHEB = (")
    for c in coef:
        print(f"    {float(c)!r},")
    print(")")


if __name__ == "__main__":
    main()
