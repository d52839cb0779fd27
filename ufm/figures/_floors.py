"""Round-off floors of the logged quantities, derived from the dtype (eps = machine epsilon).

The features carry a relative round-off of at least eps per entry, so a quantity that is *linear*
in the distance δ from the collapsed configuration (NC2, the relative objective gap computed from
f with relative round-off eps) cannot be resolved below ~eps, and one that is *quadratic* in δ
and computed from the deviations themselves (NC1 = Tr(Σ_W Σ_B^†)/K, a ratio of variances) not
below ~eps². With a safety factor ``FACTOR`` = 100 (round-off then contributes at most ~1% of
δ):

    linear floor    = FACTOR·eps       (float64: 2.2e-14)
    quadratic floor = (FACTOR·eps)²    (float64: 4.9e-28)

Below these a curve shows round-off, not dynamics (in the b.9 setting LS's NC1 plateaus at
≈ 2e-31 ≈ 4 eps² after ~20,000 GD steps), so the figures do not draw it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FACTOR = 100.0


def eps(dtype: Any = np.float64) -> float:
    return float(np.finfo(np.dtype(dtype)).eps)


def linear_floor(dtype: Any = np.float64) -> float:
    """FACTOR·eps: the resolution of quantities linear in the distance (NC2, relative gap)."""
    return FACTOR * eps(dtype)


def quadratic_floor(dtype: Any = np.float64) -> float:
    """(FACTOR·eps)²: the resolution of NC1 (quadratic in the within-class deviations)."""
    return (FACTOR * eps(dtype)) ** 2
