"""The input stage's mean as integers, shared by every scheme's input-stage rule.

The mean (one value, one per channel, or a per-pixel mean image) becomes integers M on a grid of
2^-g pixel: g is the smallest of 0..8 that holds every value exactly (an integer mean image: g = 0),
else 8 with M = floor(mean * 256 + 1/2). The rules then build their offsets as M * (one multiplier),
so a mean image is one small integer per value times a scalar: the generator stores it in 1 byte
per value (kernels/q7_input_stage.py) instead of an int32.
"""
import numpy as np

from ..errors import NnbuildError

MAX_GRID_BITS = 8


def mean_on_grid(mean, shape, where):
    """(M int64 array of C or H*W*C values, g) for the input tensor `shape` (H, W, C)."""
    h, w, c = shape
    mean = np.asarray(mean, np.float64).reshape(-1)
    if mean.size == 1:
        mean = np.repeat(mean, c)
    if mean.size not in (c, h * w * c):
        raise NnbuildError(f"mean has {mean.size} values", where=where, expected=f"1, {c} or {h * w * c}")
    if not np.all(np.isfinite(mean)) or np.abs(mean).max() >= 2.0 ** 23:
        raise NnbuildError("the mean has a value that is not finite or not below 2^23 in magnitude",
                           where=where, expected="a mean in pixel units (0..255 for 8-bit pixels)")
    if mean.size == h * w * c and np.all(mean.reshape(-1, c) == mean[:c]):
        mean = mean[:c]     # the same mean at every pixel: C offsets instead of H*W*C (flash)
    for g in range(MAX_GRID_BITS + 1):
        scaled = mean * 2.0 ** g
        if np.all(scaled == np.floor(scaled)) or g == MAX_GRID_BITS:
            return np.floor(scaled + 0.5).astype(np.int64), g
