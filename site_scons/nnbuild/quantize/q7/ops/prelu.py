"""prelu: keeps its input's format; q >= 0 ? q : requant(q * slope_q[c], slope_shift), each slope
an int16 at the largest common shift (<= 15) that holds the largest |slope|."""
import numpy as np

from ....errors import NnbuildError
from .. import golden
from . import Rule, attr, register, same_bits, where


def _params(graph, op, f_in, f_out, warnings):
    same_bits(graph, op, f_in, f_out, warnings)
    slope = np.asarray(op.params["slope"], np.float64)
    m = float(np.max(np.abs(slope), initial=0.0))
    if not np.isfinite(m):
        raise NnbuildError("slopes contain NaN or infinity", where=where(op), expected="finite slopes")
    k = 15
    while k > 0 and m * 2.0 ** k > 32767.5:
        k -= 1
    if m > 32767.5:
        raise NnbuildError(f"slopes up to {m:g}", where=where(op), expected="|slope| < 32768")
    return {"slope_shift": k}, {"slope": np.round(slope * 2.0 ** k).astype(np.int16)}


def prelu(x, slope_q, shift):
    """q >= 0 ? q : requant(q * slope_q[c], shift) per channel (last axis)."""
    x = np.asarray(x)
    neg = golden.requant(x.astype(np.int64) * np.asarray(slope_q, np.int64), int(shift))
    return np.where(x >= 0, x, neg).astype(np.int8)


register("prelu", Rule(_params, lambda op, args: prelu(args[0], op.params["slope"], attr(op, "slope_shift", 0)),
                       same_bits=True))
