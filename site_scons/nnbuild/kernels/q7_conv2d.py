"""nn_conv2d_q7: any kernel, stride, pad, dilation, group/depthwise (kernels/*/nn_conv2d_q7.c);
nn_conv2d_q7_relu for general layers with a fused ReLU (same arguments, one epilogue), and
nn_conv2d_q7_relu_quad for those of them whose quads are built by rows or taps (quad_entry)."""
import numpy as np

from .. import ir
from ..errors import NnbuildError
from . import Kernel, Lowered, Rows, register
from ._checks import act_range, array, attr, check_acc, check_range, check_shift, pair, shapes, where


def geometry(g, op):
    """The checked window geometry (nn_conv_params' leading fields; shared with s8_conv2d)."""
    (shape_in,), shape_out = shapes(g, op)
    (h, w, c), (oh, ow, oc) = shape_in, shape_out
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(op.attrs[k]) for k in ("kernel", "stride", "pad", "dilation"))
    groups = int(op.attrs["group"])
    if groups < 1 or c % groups or oc % groups:
        raise NnbuildError(f"group = {groups} does not divide {c} input / {oc} output channels", where=where(op))
    for axis, size, k, s, p, d, o in (("height", h, kh, sh, ph, dh, oh), ("width", w, kw, sw, pw, dw, ow)):
        if d * (k - 1) + 1 > size + 2 * p:
            raise NnbuildError(f"kernel {k} (dilation {d}) is larger than the padded input {axis} "
                               f"{size}+2*{p}", where=where(op), expected="a kernel that fits")
        if ir.conv_output_size(size, k, s, p, d) != o:
            raise NnbuildError(f"output {axis} {o} does not match the convolution arithmetic",
                               where=where(op), expected=str(ir.conv_output_size(size, k, s, p, d)))
    return dict(in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
                stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, dil_h=dh, dil_w=dw, groups=groups)


def lower(g, op):
    geo = geometry(g, op)
    oc, kh, kw, cin_g = geo["out_c"], geo["k_h"], geo["k_w"], geo["in_c"] // geo["groups"]
    weight = array(op, "weight", np.int8, (oc, kh, kw, cin_g))
    bias = array(op, "bias", np.int32, (oc,))
    s = int(attr(op, "out_shift"))
    lo, hi = act_range(op)
    fields = dict(geo, out_shift=s, act_min=lo, act_max=hi)
    check_range(op, fields)
    check_shift(op, "out_shift", s)
    check_acc(op, bias, kh * kw * cin_g, 1 << (s - 1) if s >= 1 else 0)
    relu = not is_depthwise(geo) and 2 <= s <= 31 and (lo, hi) == (0, 127)
    return Lowered(fields, {"weight": weight, "bias": bias}, geo["out_h"] * geo["out_w"] * oc * kh * kw * cin_g,
                   symbol=relu_symbol("nn_conv2d_q7", geo) if relu else "nn_conv2d_q7")


def quad_entry(geo):
    """A general layer that the DSP variant's _quad entries take (dsp/nn_conv_rows4.h): out_w % 4
    == 0 (every quad of output pixels in one row, none short), each quad built by kernel rows
    (K <= 128: dense, dilation 1 across, rows of 4+ bytes, a span of (3 stride_w + k_w) pixels
    <= 128 bytes; nn_conv_im2col.h: im2col_quad_small_rows) or by taps (K > 128, cin_g % 4 == 0).
    Those entries link neither the pixel-by-pixel im2col nor the short-quad tail (issue 13)."""
    cin_g = geo["in_c"] // geo["groups"]
    if is_depthwise(geo) or geo["out_w"] % 4:
        return False
    if taps(geo) > 128:
        return cin_g % 4 == 0
    return (geo["groups"] == 1 and geo["dil_w"] == 1 and geo["k_w"] * cin_g >= 4
            and (3 * geo["stride_w"] + geo["k_w"]) * geo["in_c"] <= 128)


def relu_symbol(base, geo):
    """The fused-ReLU entry of `base` (nn_conv2d_q7 / nn_conv2d_s8) for this layer's shape."""
    return f"{base}_relu_quad" if quad_entry(geo) else f"{base}_relu"


def is_depthwise(geo):
    """The C kernels' NN_CONV_IS_DEPTHWISE: one input channel per group (the direct loop)."""
    return geo["groups"] > 1 and geo["in_c"] == geo["groups"]


# nn_conv2d_q7_scratch_bytes() of each ISA variant (firmware_template/kernels/<isa>/), in bytes,
# of K = k_h*k_w*(in_c/groups) taps and k4 = K rounded up to a multiple of 4
SCRATCH = {
    "ref": lambda k, k4: 0,                     # direct convolution
    "dsp": lambda k, k4: 8 * k4,                # four int16 im2col columns (1 channel x 4 pixels)
    "mla": lambda k, k4: 4 * k,                 # one column of K words, two pixels packed per word
    "thumb1": lambda k, k4: 16 * min(k4, 128),  # 4 pixels' int32 lanes of a chunk of <= 128 taps
    "mve": lambda k, k4: 3 * k,                 # a 3-pixel tile's int8 columns
}


def taps(p):
    """K: the weights of one output channel (k_h * k_w * in_c / groups)."""
    return p["k_h"] * p["k_w"] * (p["in_c"] // p["groups"])


def scratch(p, isa):
    if isa == "dsp" and p.get("chunks", 1) > 1:
        return chunked_scratch(p, p["chunks"])
    k = taps(p)
    return SCRATCH[isa](k, -(-k // 4) * 4)


# The weight layout each ISA variant's conv entries read (nn_conv2d_q7 / _s8 and their _relu,
# _rows forms): one row per output channel of its K weights in (k_h, k_w, cin_g) order, rows of
# K bytes, except in the DSP variant's general (not depthwise) loop, whose rows are ceil4(K)
# bytes, the K % 4 gap as leading zeros (where its im2col columns have the gap,
# common/nn_dsp.h): every row is then word-aligned, so the MAC loop has no K % 4 paths (less
# code) and long rows take its LDRD loop. Identical when K % 4 == 0; conv1's K = 75: 32 B more.
# A model generated for ANY_ISA has the plain layout (ref, mla, thumb1, mve); the DSP variant
# needs its own.
def weight_row(p, isa):
    """Bytes of one output channel's weight row in the `isa` variant's layout."""
    k = taps(p)
    return -(-k // 4) * 4 if isa == "dsp" and not is_depthwise(p) else k


def pack_weight(weight, p, isa):
    """weight (out_c, k_h, k_w, cin_g) as the `isa` variant reads it (weight_row): generated
    models and the kernel tests both lay it out here."""
    w = weight.reshape(weight.shape[0], -1)
    gap = weight_row(p, isa) - w.shape[1]
    return np.pad(w, ((0, 0), (gap, 0))) if gap else weight


def pack(p, arrays, isa):
    return dict(arrays, weight=pack_weight(arrays["weight"], p, isa))
# The DSP variant's chunked entries (dsp/nn_conv_chunked.h): each quad's im2col in chunks of
# r = ceil(k_h / n) kernel rows, the int32 sums of the group's channels (4 pixels each) carried
# in the scratch between chunks. Only the DSP variant has them (its columns are the big scratch).
CHUNKS_MAX = 8                      # NN_CHUNKS_MAX
CHUNKED = {f"nn_conv2d_{s}{relu}": f"nn_conv2d_{s}_chunked"
           for s in ("q7", "s8") for relu in ("", "_relu", "_relu_quad")}


def chunk_rows(k_h, n):
    """Kernel rows per chunk (nn_chunk_rows)."""
    return -(-k_h // max(1, min(n, CHUNKS_MAX)))


def chunked_scratch(p, n):
    """nn_conv2d_*_chunked_scratch_bytes(p, n): one chunk's four columns + 16 B of sums per channel."""
    kc = chunk_rows(p["k_h"], n) * p["k_w"] * (p["in_c"] // p["groups"])
    return 8 * (-(-kc // 4) * 4) + 16 * (p["out_c"] // p["groups"])


# The DSP variant's _quad entries with the weights widened to int16 in the scratch once per call
# (dsp/nn_conv_wide.h): 11 instructions a block of 4 K instead of 13 (12.5 in long aligned rows)
# for 2 * out_c * ceil4(K) more scratch bytes; the plan takes them where the arena affords it
# (schedule.choose), whole-layer calls only (no _rows form).
WIDE = {f"nn_conv2d_{s}_relu_quad": f"nn_conv2d_{s}_relu_quad_wide" for s in ("q7", "s8")}


def wide_scratch(p):
    """nn_conv2d_*_relu_quad_wide_scratch_bytes(p) on dsp: the widened weights and the columns."""
    k4 = -(-taps(p) // 4) * 4
    return 2 * p["out_c"] * k4 + SCRATCH["dsp"](taps(p), k4)


def chunkings(p, symbol, isa):
    """The other ways the DSP variant can run a general layer, {n: (entry, its scratch)}: n >= 2
    the chunk counts that exist (ceil(k_h / r) = n), 0 the one-pass entry with widened weights
    (WIDE, K >= 5); what the one-pass scratch already beats is left to choose()."""
    if isa != "dsp" or is_depthwise(p):
        return {}
    out = {0: (WIDE[symbol], wide_scratch(p))} if symbol in WIDE and taps(p) >= 5 else {}
    # K % 4 != 0: the weights were laid out in padded rows (weight_row) at lowering, before any
    # chunk count is chosen, and the chunked entries read plain rows of K: not offered there.
    if symbol in CHUNKED and taps(p) % 4 == 0:
        counts = {-(-p["k_h"] // chunk_rows(p["k_h"], n)) for n in range(2, min(p["k_h"], CHUNKS_MAX) + 1)}
        out.update({n: (CHUNKED[symbol], chunked_scratch(p, n)) for n in sorted(counts)})
    return out


def chunk_arg(s):
    """The chunked entries' last argument (kernels.CALL_ARGS)."""
    return f", {s.params['chunks']}" if "chunks" in s.params else ""


# The entry lower() picked: nn_conv2d_q7_relu for a general layer whose epilogue is the fused
# ReLU (the DSP variant's mode 2, nn_conv_mat_mult.h), so a firmware of such layers links only
# that epilogue (nn_conv2d_q7_relu_quad when quad_entry holds: no other im2col either);
# nn_conv2d_q7 for the rest. Same struct, arrays and scratch. A chunked plan's
# nn_conv2d_q7_chunked takes the chunk count last.
def emit(s, ctx):
    return [f"{s.kernel}(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.sym(s, 'weight')}, "
            f"{ctx.sym(s, 'bias')}, {ctx.ptr(s.output)}, {ctx.scratch(s)}{chunk_arg(s)});"]


def emit_rows(s, ctx, b):
    return [f"{s.kernel}_rows(&{ctx.sym(s, 'params')}, {b['y0']}, {b['y1']}, {b['in_first']}, {b['in_rows']}, "
            f"{b['inp']}, {ctx.sym(s, 'weight')}, {ctx.sym(s, 'bias')}, {b['out']}, {b['scratch']}{chunk_arg(s)});"]


register(Kernel("conv2d", "q7", "nn_conv2d_q7", lower, emit, struct="nn_conv_params", scratch=scratch,
                rows=Rows("conv", emit_rows), pack=pack, chunks=chunkings))
