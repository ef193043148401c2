"""lrn: Caffe's local response normalisation, y = x * scale^-beta, in two regions:

  across  scale = k + alpha / n * sum of x^2 over the n channels centred on c (outside: 0)
  within  scale = 1 + alpha * (sum of x^2 over the n x n window centred on the pixel) / n^2:
          Caffe computes it as AVE pooling of x^2 with pad (n - 1) / 2, whose divisor counts the
          padded cells, so it is always n^2; k is not used
n = local_size is odd. `window_sums` is shared with the integer golden op (exact on integers)."""
import numpy as np

from ..errors import NnbuildError
from . import OpDef, register
from .activation import same_shape

REGIONS = ("across", "within")


def window_sums(sq, n, region):
    """Sum of `sq` (N, H, W, C) over each position's LRN window (zero outside the tensor)."""
    p = (n - 1) // 2
    if region == "across":
        padded = np.pad(sq, ((0, 0), (0, 0), (0, 0), (p, p)))
        c = sq.shape[3]
        return sum(padded[..., j:j + c] for j in range(n))
    if region == "within":
        padded = np.pad(sq, ((0, 0), (p, p), (p, p), (0, 0)))
        h, w = sq.shape[1:3]
        return sum(padded[:, dy:dy + h, dx:dx + w, :] for dy in range(n) for dx in range(n))
    raise NnbuildError(f"LRN region '{region}'", expected=" or ".join(REGIONS))


def scale_terms(op):
    """(k, alpha per summed square) of scale = k + a * window sum, per region."""
    n, alpha = int(op.attrs["local_size"]), float(op.attrs["alpha"])
    if op.attrs["region"] == "across":
        return float(op.attrs["k"]), alpha / n
    return 1.0, alpha / (n * n)


def _reference(op, args):
    x = args[0].astype(np.float64)
    k, a = scale_terms(op)
    s = window_sums(x * x, int(op.attrs["local_size"]), op.attrs["region"])
    return (x * (k + a * s) ** -float(op.attrs["beta"])).astype(np.float32)


register(OpDef("lrn", frozenset({"local_size", "alpha", "beta", "k", "region"}), (), same_shape, _reference))
