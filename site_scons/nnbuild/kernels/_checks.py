"""Checks shared by the kernels' lowering rules: every value that reaches a C parameter must fit
its C type, so that a model that generates also compiles and runs correctly."""
import numpy as np

from ..errors import NnbuildError

INT16 = (-32768, 32767)
INT32 = (-2**31, 2**31 - 1)


def where(op):
    return f"op '{op.name}' ({op.type})"


def attr(op, key, default=None):
    if key in op.attrs:
        return op.attrs[key]
    if default is None:
        raise NnbuildError(f"missing attribute '{key}'", where=where(op),
                           expected="the attributes of a quantized op (docs/q7_contract.md)")
    return default


def pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v))


def check_range(op, fields, lo_hi=INT16, what="int16"):
    for key, value in fields.items():
        if not lo_hi[0] <= int(value) <= lo_hi[1]:
            raise NnbuildError(f"{key} = {value} does not fit the kernel's {what} parameter",
                               where=where(op), expected=f"{lo_hi[0]}..{lo_hi[1]}")


def check_shift(op, key, s, lo=-31, hi=31):
    if not lo <= int(s) <= hi:
        raise NnbuildError(f"{key} = {s} is outside what the kernels can shift", where=where(op),
                           expected=f"{lo}..{hi}")


def array(op, key, dtype, shape=None):
    if key not in op.params:
        raise NnbuildError(f"missing param '{key}'", where=where(op))
    a = np.asarray(op.params[key])
    if a.dtype != np.dtype(dtype):
        info = np.iinfo(dtype)
        if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < info.min or a.max() > info.max)):
            raise NnbuildError(f"param '{key}' has dtype {a.dtype}", where=where(op),
                               expected=f"{np.dtype(dtype).name} values")
        a = a.astype(dtype)
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise NnbuildError(f"param '{key}' has shape {tuple(a.shape)}", where=where(op),
                           expected=f"shape {tuple(shape)}")
    return a


def check_acc(op, bias, n_terms, rounding=0):
    """The kernels' int32 accumulator bound (nn_kernels.h): |bias| + 2^14 * terms (+ the rounding
    half a kernel may add up front: the DSP conv's fused ReLU loop) < 2^31."""
    worst = int(np.abs(bias.astype(np.int64)).max(initial=0)) + (1 << 14) * n_terms + rounding
    if worst >= 2**31:
        extra = f" and a rounding term of {rounding}" if rounding else ""
        raise NnbuildError(f"bias up to {worst - (1 << 14) * n_terms - rounding} with {n_terms} products "
                           f"per output{extra} can overflow the int32 accumulator", where=where(op),
                           expected="|bias| + 16384 * terms" + (" + 2^(out_shift-1)" if rounding else "")
                           + " < 2^31")


def act_range(op):
    lo, hi = int(op.attrs.get("act_min", -128)), int(op.attrs.get("act_max", 127))
    if not -128 <= lo <= hi <= 127:
        raise NnbuildError(f"activation range [{lo}, {hi}]", where=where(op),
                           expected="-128 <= act_min <= act_max <= 127")
    return lo, hi


def shapes(g, op):
    return [tuple(g.tensors[i].shape) for i in op.inputs], tuple(g.tensors[op.outputs[0]].shape)
