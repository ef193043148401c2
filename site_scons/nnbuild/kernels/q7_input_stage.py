"""nn_input_stage_q7: uint8 pixels -> q7 with an integer mul/offset/shift (per pixel or channel).

A per-pixel table of the form off_base + off8 * off_mul with off8 in 0..255 (a mean image on a
grid, quantize/meangrid.py: cifar10_m4's in both schemes) goes to nn_input_stage_off8_q7
instead: the same integers, a quarter of the flash, and a shorter loop. When every image row's
off8 values of one channel lie within 15 of their minimum (a smooth mean image: cifar10_m4's),
nn_input_stage_off4_q7 stores those minima and 4-bit residuals (1,632 B instead of 3,072)."""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, Rows, register
from ._checks import INT32, array, attr, check_range, shapes, where


def compact_offsets(off, mul, shift):
    """(off8 uint8, off_mul, add) with off == off_base + off8 * off_mul and
    add = 2^(shift-1) - off_base, or None when nn_input_stage_off8_q7 cannot compute this stage
    exactly: a quotient above 255, or an int32 overflow in the kernel's terms (p * mul,
    off8 * off_mul, add - off8 * off_mul, and their sum) for some pixel value p."""
    off = off.astype(np.int64)
    base = int(off.min())
    rest = off - base
    step = int(np.gcd.reduce(rest)) or 1
    q = rest // step
    if q.max() > 255:
        return None
    add = (1 << (shift - 1)) - base
    ends = np.concatenate([[255 * mul, add, rest.max()], add - rest, 255 * mul + add - rest])
    if ends.min() < INT32[0] or ends.max() > INT32[1]:
        return None
    return q.astype(np.uint8), step, add


def nibble_table(off8, shape):
    """nn_input_stage_off4_q7's table for off8 (H*W*C uint8, HWC): per image row its C minima,
    then its W*C residuals as nibbles (low first, a row of odd length padded with 0), or None
    when a residual exceeds 15 or the table would not be smaller than off8."""
    h, w, c = shape
    q = off8.reshape(h, w, c).astype(np.int64)
    base = q.min(axis=1)                                   # (H, C)
    res = (q - base[:, None, :]).reshape(h, w * c)
    if res.max() > 15:
        return None
    if w * c % 2:
        res = np.concatenate([res, np.zeros((h, 1), np.int64)], axis=1)
    nib = res[:, 0::2] | (res[:, 1::2] << 4)
    tab = np.concatenate([base, nib], axis=1).astype(np.uint8).reshape(-1)
    return tab if tab.size < off8.size else None


def off4_symbol(shape):
    """RGB images of even width take nn_input_stage_off4c3_q7, the faster loop; others the general one."""
    return "nn_input_stage_off4c3_q7" if shape[2] == 3 and shape[1] % 2 == 0 else "nn_input_stage_off4_q7"


def lower(g, op):
    shape_out = shapes(g, op)[1]
    n_out = int(np.prod(shape_out))
    mul, shift = int(attr(op, "mul")), int(attr(op, "shift"))
    off = array(op, "off", np.int32).reshape(-1)
    if not 1 <= shift <= 31:
        raise NnbuildError(f"shift = {shift}", where=where(op), expected="1..31")
    if off.size not in (n_out, shape_out[2]):
        raise NnbuildError(f"param 'off' has {off.size} values", where=where(op),
                           expected=f"{n_out} (per pixel) or {shape_out[2]} (per channel)")
    check_range(op, {"mul": mul}, INT32, "int32")
    compact = compact_offsets(off, mul, shift) if off.size == n_out and n_out > shape_out[2] else None
    nibbles = nibble_table(compact[0], shape_out) if compact is not None else None
    if nibbles is not None:
        return Lowered({"rows": int(shape_out[0]), "w": int(shape_out[1]), "c": int(shape_out[2]), "mul": mul,
                        "shift": shift, "off_mul": compact[1], "add": compact[2]},
                       {"off": nibbles}, symbol=off4_symbol(shape_out))
    if compact is not None:
        return Lowered({"n": n_out, "mul": mul, "shift": shift, "off_mul": compact[1], "add": compact[2]},
                       {"off": compact[0]}, symbol="nn_input_stage_off8_q7")
    return Lowered({"n": n_out, "mul": mul, "shift": shift, "off_len": int(off.size)}, {"off": off})


def _off4_call(s, ctx, pixels, rows, table, out):
    p = s.params
    c = "" if s.kernel == "nn_input_stage_off4c3_q7" else f"{p['c']}, "    # c3: the channel count is the name's
    return [f"{s.kernel}({pixels}, {rows}, {p['w']}, {c}{ctx.int(p['mul'])}, {table}, "
            f"{ctx.int(p['off_mul'])}, {ctx.int(p['add'])}, {p['shift']}, {out});"]


OFF4 = ("nn_input_stage_off4_q7", "nn_input_stage_off4c3_q7")


def emit(s, ctx):
    p = s.params
    if s.kernel in OFF4:
        return _off4_call(s, ctx, ctx.ptr(s.inputs[0]), p["rows"], ctx.sym(s, "off"), ctx.ptr(s.output))
    if s.kernel == "nn_input_stage_off8_q7":
        return [f"nn_input_stage_off8_q7({ctx.ptr(s.inputs[0])}, {p['n']}, {ctx.int(p['mul'])}, "
                f"{ctx.sym(s, 'off')}, {ctx.int(p['off_mul'])}, {ctx.int(p['add'])}, {p['shift']}, {ctx.ptr(s.output)});"]
    return [f"nn_input_stage_q7({ctx.ptr(s.inputs[0])}, {p['n']}, {ctx.int(p['mul'])}, {ctx.sym(s, 'off')}, "
            f"{p['off_len']}, {p['shift']}, {ctx.ptr(s.output)});"]


def emit_rows(s, ctx, b):
    p = s.params
    if s.kernel in OFF4:    # whole image rows: the band advances both by rows
        stride = p["c"] + (p["w"] * p["c"] + 1) // 2
        return _off4_call(s, ctx, f"{b['inp']} + ({b['y0']}) * {b['row_bytes']}", f"({b['y1']}) - ({b['y0']})",
                          f"{ctx.sym(s, 'off')} + ({b['y0']}) * {stride}", b["out"])
    if s.kernel == "nn_input_stage_off8_q7":     # a per-image table: the band is plain pointer arithmetic
        first = f"({b['y0']}) * {b['row_bytes']}"
        return [f"nn_input_stage_off8_q7({b['inp']} + {first}, (({b['y1']}) - ({b['y0']})) * {b['row_bytes']}, "
                f"{ctx.int(p['mul'])}, {ctx.sym(s, 'off')} + {first}, {ctx.int(p['off_mul'])}, {ctx.int(p['add'])}, "
                f"{p['shift']}, {b['out']});"]
    return [f"nn_input_stage_q7_rows({b['inp']}, {b['row_bytes']}, {b['y0']}, {b['y1']}, {ctx.int(p['mul'])}, "
            f"{ctx.sym(s, 'off')}, {p['off_len']}, {p['shift']}, {b['out']});"]


ROWS = Rows("pixels", emit_rows)
register(Kernel("input_stage", "q7", "nn_input_stage_q7", lower, emit, rows=ROWS))
