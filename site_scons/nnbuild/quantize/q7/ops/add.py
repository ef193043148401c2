"""add: inputs aligned to the finest format by left shifts, one output shift."""
from ....errors import NnbuildError
from .. import golden, params
from . import Rule, attr, register, where


def _params(graph, op, f_in, f_out, warnings):
    f_m = max(f_in)
    in_shifts = [f_m - f for f in f_in]
    if 128 * sum(2 ** s for s in in_shifts) > params.INT32_MAX:
        raise NnbuildError(f"inputs' frac bits {f_in} differ too much for an int32 sum", where=where(op))
    return {"in_shifts": in_shifts, "out_shift": f_m - f_out}, {}


register("add", Rule(_params, lambda op, args: golden.add(args, attr(op, "in_shifts"), attr(op, "out_shift"))))
