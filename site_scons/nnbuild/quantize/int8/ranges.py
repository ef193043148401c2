"""The (scale, zero point) of one group of activation tensors from its calibration statistics.

minmax: TFLite's ChooseQuantizationParams of the exact calibration range (nothing saturates).
mse:    the range shrunk by the factor (of a geometric grid) that minimises the quantization
        error (rounding + saturation) on the stats sample, as q7's mse does with frac bits.
"""
import numpy as np

from ...errors import NnbuildError
from . import arith

STRATEGIES = ("minmax", "mse")
FALLBACK = (arith.f32(2.0 ** -7), 0)       # a range of only zeros: any scale is exact
SHRINK = tuple(2.0 ** (-k / 8) for k in range(57))   # 1 down to 2^-7, 8 steps per octave
SEARCH_CAP = 1 << 18        # values of the sample the search evaluates (a seeded subset above that)


def q_mse(values, scale, zp):
    """Mean squared error of int8 quantization with (scale, zp) on `values` (float32)."""
    q = values / np.float32(scale)
    np.round(q, out=q)
    q += zp
    np.clip(q, arith.QMIN, arith.QMAX, out=q)
    q -= zp
    q *= np.float32(scale)
    q -= values
    return float(np.mean(np.square(q, out=q), dtype=np.float64))


def _checked(lo, hi):
    s, z = arith.qparams_from_range(lo, hi)
    if not (np.isfinite(s) and s >= np.finfo(np.float32).tiny and s * 2.0 ** 31 < np.finfo(np.float32).max):
        raise NnbuildError(f"activation range [{lo:g}, {hi:g}] has no usable int8 scale ({s:g})",
                           expected="a finite range wider than 1e-36")
    return s, z


def choose(sample, lo, hi, strategy):
    """(scale, zero point) for a group with calibration range [lo, hi]. Returns ((s, z), warning)."""
    if strategy not in STRATEGIES:
        raise NnbuildError(f"unknown quantization strategy '{strategy}'", where="quantization.strategy",
                           expected=" or ".join(STRATEGIES))
    if not (lo < 0 or hi > 0):
        return FALLBACK, f"range is all zeros on the calibration set: scale {FALLBACK[0]:g}, zero point 0"
    best = _checked(lo, hi)
    if strategy == "minmax":
        return best, None
    values = np.asarray(sample, np.float32).reshape(-1)
    if values.size > SEARCH_CAP:
        values = np.random.default_rng(0).choice(values, SEARCH_CAP, replace=False)
    best_err = q_mse(values, *best)
    for a in SHRINK[1:]:
        cand = arith.qparams_from_range(lo * a, hi * a)
        err = q_mse(values, *cand)
        if err < best_err:      # ties keep the wider range
            best, best_err = cand, err
    return best, None
