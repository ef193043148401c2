"""Activation statistics from the float reference and the choice of frac bits.

Statistics are collected batch by batch (memory stays bounded for large calibration sets): the
exact min/max of each tensor plus a sample of its values (at most about SAMPLE_CAP per tensor)
on which the strategies evaluate the quantization error. The sample is made of whole pixels (every
channel of each chosen position), drawn at random with a fixed seed: a stride over the flattened
NHWC values would alias with the channel count and see only some channels.
"""
import math
import zlib

import numpy as np

from .. import reference
from ..errors import NnbuildError

SAMPLE_CAP = 1 << 21
SAMPLE_SEED = 7                 # fixed: the same calibration data always gives the same frac bits
F_MIN, F_MAX = -24, 24          # activation frac bits we accept (beyond: the range is absurd)
FALLBACK_F = 7
STRATEGIES = ("minmax", "mse")


class TensorStats:
    """Exact range and a pixel sample of one tensor; `keep` pixels out of `total` are sampled."""

    def __init__(self, name, total, keep):
        self.lo, self.hi, self.parts = math.inf, -math.inf, []
        self.total, self.keep, self.seen = total, keep, 0
        self.rng = np.random.default_rng([SAMPLE_SEED, zlib.crc32(name.encode())])

    def add(self, values, lo, hi):
        """values (N, H, W, C) with minimum lo and maximum hi: every channel of a random subset of
        the N*H*W positions is sampled."""
        rows = values.reshape(-1, values.shape[-1])
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
        # batch i keeps its share of `keep` so that the shares add up to exactly `keep`
        before, self.seen = self.seen, self.seen + len(rows)
        k = self.seen * self.keep // self.total - before * self.keep // self.total
        if k >= len(rows):
            self.parts.append(rows.astype(np.float32))
        elif k > 0:
            idx = np.sort(self.rng.choice(len(rows), size=k, replace=False))
            self.parts.append(rows[idx].astype(np.float32))

    @property
    def pixels(self):
        """The sampled positions (K, C)."""
        return np.concatenate(self.parts) if self.parts else np.zeros((0, 1), np.float32)

    @property
    def sample(self):
        return self.pixels.reshape(-1)


def collect(graph, pixels, batch=100):
    """{tensor name: TensorStats} over the float graph's activations (graph input excluded).

    Raises NnbuildError naming the op when a tensor holds NaN or infinity."""
    names = [n for n in graph.tensors if n != graph.input]
    stats = {}
    for n in names:
        shape = graph.tensors[n].shape
        total = len(pixels) * math.prod(shape[:-1])
        stats[n] = TensorStats(n, total, min(total, max(1, SAMPLE_CAP // shape[-1])))
    for i in range(0, len(pixels), batch):
        vals = reference.run_all(graph, pixels[i:i + batch], batch=batch)
        for n in names:
            v = vals[n]
            lo, hi = float(v.min()), float(v.max())     # NaN propagates into both
            if not (math.isfinite(lo) and math.isfinite(hi)):
                op = graph.producer(n)
                raise NnbuildError(f"non-finite values (NaN/inf) in tensor '{n}' on calibration images "
                                   f"{i}..{i + len(v) - 1}", where=f"layer '{op.name if op else n}'",
                                   expected="finite activations (check the weights for NaN)")
            stats[n].add(v, lo, hi)
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
    q = values * scale              # in place from here on: the sample is large
    np.round(q, out=q)
    np.clip(q, -128, 127, out=q)
    q /= scale
    q -= values
    return float(np.mean(np.square(q, out=q)))


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
