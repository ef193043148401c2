"""nn_lrn_q7: local response normalisation through one int16 table (kernels/ref/nn_lrn_q7.c)."""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, register
from ._checks import array, attr, check_range, check_shift, shapes, where

REGIONS = {"across": 0, "within": 1}


def lower(g, op):
    h, w, c = shapes(g, op)[1]
    n = int(op.attrs["local_size"])
    if n % 2 == 0 or not 1 <= n <= 15:
        raise NnbuildError(f"local_size {n}", where=where(op), expected="odd, 1..15")
    table = array(op, "table", np.int16)
    shift = int(attr(op, "shift"))
    check_shift(op, "shift", shift)
    fields = dict(h=h, w=w, c=c, size=n, region=REGIONS[op.attrs["region"]], shift=shift, table_len=table.size)
    check_range(op, fields)
    terms = n if op.attrs["region"] == "across" else n * n
    return Lowered(fields, {"table": table}, macs=h * w * c * (terms + 1))


def emit(s, ctx):
    return [f"nn_lrn_q7(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.sym(s, 'table')}, {ctx.ptr(s.output)});"]


register(Kernel("lrn", "q7", "nn_lrn_q7", lower, emit, struct="nn_lrn_params"))
