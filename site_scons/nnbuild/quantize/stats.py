"""Activation statistics from the float reference and the choice of frac bits.

Statistics are collected batch by batch (memory stays bounded for large calibration sets): the
exact min/max of each tensor plus a deterministic strided sample of its values (at most
SAMPLE_CAP per tensor) on which the strategies evaluate the quantization error.
"""
import math

import numpy as np

from .. import reference
from ..errors import NnbuildError

SAMPLE_CAP = 1 << 21
F_MIN, F_MAX = -24, 24          # activation frac bits we accept (beyond: the range is absurd)
FALLBACK_F = 7
STRATEGIES = ("minmax", "mse")


class TensorStats:
    def __init__(self):
        self.lo, self.hi, self.parts = math.inf, -math.inf, []

    def add(self, values, stride):
        flat = values.reshape(-1)
        self.lo = min(self.lo, float(flat.min()))
        self.hi = max(self.hi, float(flat.max()))
        self.parts.append(flat[::stride].astype(np.float32))

    @property
    def sample(self):
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)


def collect(graph, pixels, batch=100):
    """{tensor name: TensorStats} over the float graph's activations (graph input excluded).

    Raises NnbuildError naming the op when a tensor holds NaN or infinity."""
    names = [n for n in graph.tensors if n != graph.input]
    total = len(pixels)
    stats = {n: TensorStats() for n in names}
    strides = {n: max(1, -(-(graph.tensors[n].size * total) // SAMPLE_CAP)) for n in names}
    for i in range(0, total, batch):
        vals = reference.run_all(graph, pixels[i:i + batch], batch=batch)
        for n in names:
            v = vals[n]
            if not np.isfinite(v).all():
                op = graph.producer(n)
                raise NnbuildError(f"non-finite values (NaN/inf) in tensor '{n}' on calibration images "
                                   f"{i}..{i + len(v) - 1}", where=f"layer '{op.name if op else n}'",
                                   expected="finite activations (check the weights for NaN)")
            stats[n].add(v, strides[n])
    return stats


def minmax_bits(lo, hi):
    """Largest f such that [lo, hi] * 2^f rounds into [-128, 127] (no saturation)."""
    f = F_MAX
    while f > F_MIN and (hi * 2.0 ** f > 127.5 or lo * 2.0 ** f < -128.5):
        f -= 1
    return f


def q_mse(values, f):
    """Mean squared error of q7 with frac bits f (rounding + saturation) on `values`."""
    scale = 2.0 ** f
    q = np.clip(np.round(values * scale), -128, 127)
    return float(np.mean((q / scale - values) ** 2))


def choose_bits(sample, lo, hi, strategy):
    """Frac bits for one group of tensors. Returns (f, warning or None)."""
    if strategy not in STRATEGIES:
        raise NnbuildError(f"unknown quantization strategy '{strategy}'", where="quantization.strategy",
                           expected=" or ".join(STRATEGIES))
    if not (lo < 0 or hi > 0):
        return FALLBACK_F, f"range is all zeros on the calibration set: frac bits {FALLBACK_F} by default"
    f0 = minmax_bits(lo, hi)
    if f0 <= F_MIN:
        raise NnbuildError(f"activation range [{lo:g}, {hi:g}] is too large for q7",
                           expected=f"|values| < 128 * 2^{-F_MIN}")
    if strategy == "minmax":
        return f0, None
    # mse: trade saturation of rare large values for resolution of the bulk; ties keep fewer bits.
    best_f, best = f0, q_mse(sample, f0)
    for f in range(f0 + 1, min(f0 + 8, F_MAX) + 1):
        err = q_mse(sample, f)
        if err < best:
            best_f, best = f, err
    return best_f, None
