"""nn_concat_q7: channel concatenation, one call per input writing its channel slice."""
from ..errors import NnbuildError
from . import Kernel, Lowered, Rows, register
from ._checks import attr, check_range, check_shift, shapes, where


def lower(g, op):
    shape_in, (h, w, oc) = shapes(g, op)
    if any(s[:2] != (h, w) for s in shape_in) or sum(s[2] for s in shape_in) != oc:
        raise NnbuildError(f"concat of shapes {shape_in} -> {(h, w, oc)} is not along channels",
                           where=where(op), expected="inputs with equal H, W and output C = sum of C")
    shifts = [int(v) for v in attr(op, "shifts")]
    if len(shifts) != len(op.inputs):
        raise NnbuildError(f"{len(shifts)} shifts for {len(op.inputs)} inputs", where=where(op))
    for i, v in enumerate(shifts):
        check_shift(op, f"shifts[{i}]", v)
    check_range(op, {"out_c": oc})
    return Lowered({"pixels": h * w, "out_c": oc, "in_c": [s[2] for s in shape_in], "shifts": shifts})


def emit(s, ctx):
    p, calls, c_off = s.params, [], 0
    for tensor, in_c, shift in zip(s.inputs, p["in_c"], p["shifts"]):
        calls.append(f"nn_concat_q7({ctx.ptr(tensor)}, {p['pixels']}, {in_c}, {shift}, {ctx.ptr(s.output)}, "
                     f"{p['out_c']}, {c_off});")
        c_off += in_c
    return calls


def emit_rows(s, ctx, b):
    """One output row: each input's row into its channel slice (the kernel, on w pixels)."""
    p, calls, c_off = s.params, [], 0
    for row, in_c, shift in zip(b["ins"], p["in_c"], p["shifts"]):
        calls.append(f"nn_concat_q7({row}, {b['w']}, {in_c}, {shift}, {b['out']}, {p['out_c']}, {c_off});")
        c_off += in_c
    return calls


register(Kernel("concat", "q7", "nn_concat_q7", lower, emit, rows=Rows("point", emit_rows)))
