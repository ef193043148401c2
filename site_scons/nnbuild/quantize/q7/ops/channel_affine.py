"""channel_affine (a BatchNorm/Scale/Bias that could not be folded): acc = q * mul_q[c] + bias_q[c],
out = requant(acc, shift); mul_q int16 at a common frac bits fm, bias_q int32 at f_in + fm."""
import numpy as np

from ....errors import NnbuildError
from .. import golden, params
from . import Rule, attr, register, where

FM_MIN, FM_MAX = -16, 30


def _params(graph, op, f_in, f_out, warnings):
    mul = np.asarray(op.params["mul"], np.float64)
    add = np.asarray(op.params["add"], np.float64)
    if not (np.isfinite(mul).all() and np.isfinite(add).all()):
        raise NnbuildError("scale or bias contains NaN or infinity", where=where(op), expected="finite values")
    m = float(np.max(np.abs(mul), initial=0.0))
    fm = FM_MAX
    while fm >= FM_MIN:
        mq = np.round(mul * 2.0 ** fm)
        bq = np.round(add * 2.0 ** (f_in[0] + fm))
        s = f_in[0] + fm - f_out
        if m * 2.0 ** fm <= 32767.5 and s <= params.MAX_OUT_SHIFT and \
                np.all(np.abs(bq) + 128 * np.abs(mq) <= params.INT32_MAX):
            return {"shift": s}, {"mul": mq.astype(np.int16), "bias": bq.astype(np.int32)}
        fm -= 1
    raise NnbuildError(f"no 16-bit format holds the scales (up to {m:g}) with the biases in int32",
                       where=where(op), expected="|scale| < 2^31 with biases of a similar magnitude")


def channel_affine(x, mul_q, bias_q, shift):
    acc = np.asarray(x, np.int64) * np.asarray(mul_q, np.int64) + np.asarray(bias_q, np.int64)
    return golden.requant(acc, int(shift))


register("channel_affine", Rule(_params, lambda op, args: channel_affine(
    args[0], op.params["mul"], op.params["bias"], attr(op, "shift", 0))))
