"""clip keeps its input's format: a clamp to the bounds in that format (rounding is monotone, so
round(clip(x)) == clip(round(x)) with the rounded bounds), saturated to int8."""
import numpy as np

from . import Rule, attr, register, same_bits


def clamp_bounds(lo, hi, offset=0):
    """int8 [act_min, act_max]: offset + the bounds (in integer units) rounded half away from zero,
    saturated; an empty range collapses to act_min (what both the golden clamp and nn_clamp_s8
    then give)."""
    q = [int(np.clip(offset + np.sign(v) * np.floor(abs(v) + 0.5), -128, 127)) for v in (lo, hi)]
    return q[0], max(q)


def _params(graph, op, f_in, f_out, warnings):
    same_bits(graph, op, f_in, f_out, warnings)
    lo, hi = clamp_bounds(float(op.attrs["min"]) * 2.0 ** f_out, float(op.attrs["max"]) * 2.0 ** f_out)
    return {"act_min": lo, "act_max": hi}, {}


def _golden(op, args):
    return np.clip(np.asarray(args[0], np.int8), int(attr(op, "act_min")), int(attr(op, "act_max"))).astype(np.int8)


register("clip", Rule(_params, _golden, same_bits=True))
