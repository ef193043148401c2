"""nn_concat_s8 / nn_concat_q7: int8 channel concatenation, one call per input writing its channel
slice: a plain copy (q7's kernel with shift 0) where the input keeps the output's scale and zero
point, else TFLite Micro's int8 -> int8 requantization (docs/int8_contract.md: concat)."""
from ..errors import NnbuildError
from . import Kernel, Lowered, Rows, register
from ._checks import INT32, attr, check_range, check_shift, shapes, where
from .s8_conv2d import SCHEME


def lower(g, op):
    shape_in, (h, w, oc) = shapes(g, op)
    if any(s[:2] != (h, w) for s in shape_in) or sum(s[2] for s in shape_in) != oc:
        raise NnbuildError(f"concat of shapes {shape_in} -> {(h, w, oc)} is not along channels",
                           where=where(op), expected="inputs with equal H, W and output C = sum of C")
    n = len(op.inputs)
    lists = {k: list(attr(op, k)) for k in ("in_zp", "in_mult", "in_shift", "requant")}
    for k, v in lists.items():
        if len(v) != n:
            raise NnbuildError(f"{k} has {len(v)} values for {n} inputs", where=where(op))
    out_zp = int(attr(op, "out_zp"))
    check_range(op, {"out_zp": out_zp, **{f"in_zp[{i}]": int(z) for i, z in enumerate(lists["in_zp"])}},
                (-128, 127), "int8")
    for i, (m, s) in enumerate(zip(lists["in_mult"], lists["in_shift"])):
        check_range(op, {f"in_mult[{i}]": int(m)}, (0, INT32[1]), "int32 >= 0")
        check_shift(op, f"in_shift[{i}]", int(s), -31, 30)
    check_range(op, {"out_c": oc})
    return Lowered({"pixels": h * w, "out_c": oc, "in_c": [s[2] for s in shape_in], "out_zp": out_zp,
                    "in_zp": [int(v) for v in lists["in_zp"]], "in_mult": [int(v) for v in lists["in_mult"]],
                    "in_shift": [int(v) for v in lists["in_shift"]],
                    "requant": [bool(v) for v in lists["requant"]]})


def _calls(s, ctx, srcs, pixels, out):
    p, calls, c_off = s.params, [], 0
    for i, src in enumerate(srcs):
        in_c = p["in_c"][i]
        if p["requant"][i]:
            calls.append(f"nn_concat_s8({src}, {pixels}, {in_c}, {p['in_zp'][i]}, {ctx.int(p['in_mult'][i])}, "
                         f"{p['in_shift'][i]}, {p['out_zp']}, {out}, {p['out_c']}, {c_off});")
        else:
            calls.append(f"nn_concat_q7({src}, {pixels}, {in_c}, 0, {out}, {p['out_c']}, {c_off});")
        c_off += in_c
    return calls


def emit(s, ctx):
    return _calls(s, ctx, [ctx.ptr(t) for t in s.inputs], s.params["pixels"], ctx.ptr(s.output))


def emit_rows(s, ctx, b):
    """One output row: each input's row into its channel slice (the kernels, on w pixels)."""
    return _calls(s, ctx, b["ins"], b["w"], b["out"])


register(Kernel("concat", SCHEME, "nn_concat_s8", lower, emit, rows=Rows("point", emit_rows)))
