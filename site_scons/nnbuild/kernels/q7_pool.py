"""nn_maxpool_q7 / nn_avgpool_q7: Caffe pooling (ceil mode, clipped windows); an avg_pool's
exclude_pad sets the struct's flag (the divisor is then the window's input cells). A floor-mode
pool (ceil_mode false) needs nothing in C: the kernels take out_h/out_w from the struct and every
floor window lies in the padded input, where Caffe's window clip never cuts."""
from .. import ir
from ..errors import NnbuildError
from ..ops.pool import ceil_mode, exclude_pad
from . import Kernel, Lowered, Rows, register
from ._checks import check_range, pair, shapes, where


def lower(g, op):
    (shape_in,), shape_out = shapes(g, op)
    (h, w, c), (oh, ow, oc) = shape_in, shape_out
    (kh, kw), (sh, sw), (ph, pw) = (pair(op.attrs[k]) for k in ("kernel", "stride", "pad"))
    excl = op.type == "avg_pool" and exclude_pad(op)
    ceil = ceil_mode(op)
    for axis, size, k, s, p, o in (("height", h, kh, sh, ph, oh), ("width", w, kw, sw, pw, ow)):
        if k > size + 2 * p and not excl:     # exclude_pad (TFLite SAME) divides by what is inside
            raise NnbuildError(f"pooling window {k} is larger than the padded input {axis} "
                               f"{size}+2*{p}", where=where(op), expected="a window that fits")
        if ir.pool_has_empty_window(size, k, s, p, ceil):
            raise NnbuildError(f"the last pooling window along the {axis} lies outside the input",
                               where=where(op), expected="every window overlapping the input")
        if ir.pool_output_size(size, k, s, p, ceil) != o:
            raise NnbuildError(f"output {axis} {o} does not match the pooling arithmetic",
                               where=where(op), expected=str(ir.pool_output_size(size, k, s, p, ceil)))
    if oc != c:
        raise NnbuildError(f"pooling changes channels {c} -> {oc}", where=where(op))
    if ph >= kh or pw >= kw:
        raise NnbuildError(f"pad ({ph}, {pw}) is not smaller than the window ({kh}, {kw})",
                           where=where(op), expected="pad < kernel (every window must see the input)")
    fields = dict(in_h=h, in_w=w, c=c, out_h=oh, out_w=ow, k_h=kh, k_w=kw,
                  stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw)
    if excl:
        fields["exclude_pad"] = 1      # only when set: other layers' generated C stays as it was
    check_range(op, fields)
    return Lowered(fields)


def emit(s, ctx):
    return [f"{s.kernel}(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.ptr(s.output)});"]


def emit_rows(s, ctx, b):
    return [f"{s.kernel}_rows(&{ctx.sym(s, 'params')}, {b['y0']}, {b['y1']}, {b['in_first']}, {b['in_rows']}, "
            f"{b['inp']}, {b['out']});"]


def emit_hrow(s, ctx, inp, out):
    return [f"{s.kernel}_hrow(&{ctx.sym(s, 'params')}, {inp}, {out});"]


ROWS = Rows("pool", emit_rows)
MAX_ROWS = Rows("pool", emit_rows, emit_hrow)
register(Kernel("max_pool", "q7", "nn_maxpool_q7", lower, emit, struct="nn_pool_params", rows=MAX_ROWS))
register(Kernel("avg_pool", "q7", "nn_avgpool_q7", lower, emit, struct="nn_pool_params", rows=ROWS))
