"""nn_conv2d_q7: any kernel, stride, pad, dilation, group/depthwise (kernels/*/nn_conv2d_q7.c);
nn_conv2d_q7_relu for general layers with a fused ReLU (same arguments, one epilogue)."""
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
    check_acc(op, bias, kh * kw * cin_g)
    relu = not is_depthwise(geo) and 2 <= s <= 31 and (lo, hi) == (0, 127)
    return Lowered(fields, {"weight": weight, "bias": bias}, geo["out_h"] * geo["out_w"] * oc * kh * kw * cin_g,
                   symbol="nn_conv2d_q7_relu" if relu else "nn_conv2d_q7")


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


def scratch(p, isa):
    if isa == "dsp" and p.get("chunks", 1) > 1:
        return chunked_scratch(p, p["chunks"])
    k = p["k_h"] * p["k_w"] * (p["in_c"] // p["groups"])
    return SCRATCH[isa](k, -(-k // 4) * 4)


# The DSP variant's chunked entries (dsp/nn_conv_chunked.h): each quad's im2col in chunks of
# r = ceil(k_h / n) kernel rows, the int32 sums of the group's channels (4 pixels each) carried
# in the scratch between chunks. Only the DSP variant has them (its columns are the big scratch).
CHUNKS_MAX = 8                      # NN_CHUNKS_MAX
CHUNKED = {"nn_conv2d_q7": "nn_conv2d_q7_chunked", "nn_conv2d_q7_relu": "nn_conv2d_q7_chunked",
           "nn_conv2d_s8": "nn_conv2d_s8_chunked", "nn_conv2d_s8_relu": "nn_conv2d_s8_chunked"}


def chunk_rows(k_h, n):
    """Kernel rows per chunk (nn_chunk_rows)."""
    return -(-k_h // max(1, min(n, CHUNKS_MAX)))


def chunked_scratch(p, n):
    """nn_conv2d_*_chunked_scratch_bytes(p, n): one chunk's four columns + 16 B of sums per channel."""
    kc = chunk_rows(p["k_h"], n) * p["k_w"] * (p["in_c"] // p["groups"])
    return 8 * (-(-kc // 4) * 4) + 16 * (p["out_c"] // p["groups"])


def chunkings(p, symbol, isa):
    """{n: (chunked entry, its scratch)} for the chunk counts that exist (ceil(k_h / r) = n) on the
    DSP variant of a general layer; what the one-pass scratch already beats is left to choose()."""
    if isa != "dsp" or is_depthwise(p) or symbol not in CHUNKED:
        return {}
    counts = {-(-p["k_h"] // chunk_rows(p["k_h"], n)) for n in range(2, min(p["k_h"], CHUNKS_MAX) + 1)}
    return {n: (CHUNKED[symbol], chunked_scratch(p, n)) for n in sorted(counts)}


def chunk_arg(s):
    """The chunked entries' last argument (kernels.CALL_ARGS)."""
    return f", {s.params['chunks']}" if "chunks" in s.params else ""


# The entry lower() picked: nn_conv2d_q7_relu for a general layer whose epilogue is the fused
# ReLU (the DSP variant's mode 2, nn_conv_mat_mult.h), so a firmware of such layers links only
# that epilogue; nn_conv2d_q7 for the rest. Same struct, arrays and scratch. A chunked plan's
# nn_conv2d_q7_chunked takes the chunk count last.
def emit(s, ctx):
    return [f"{s.kernel}(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.sym(s, 'weight')}, "
            f"{ctx.sym(s, 'bias')}, {ctx.ptr(s.output)}, {ctx.scratch(s)}{chunk_arg(s)});"]


def emit_rows(s, ctx, b):
    return [f"{s.kernel}_rows(&{ctx.sym(s, 'params')}, {b['y0']}, {b['y1']}, {b['in_first']}, {b['in_rows']}, "
            f"{b['inp']}, {ctx.sym(s, 'weight')}, {ctx.sym(s, 'bias')}, {b['out']}, {b['scratch']}{chunk_arg(s)});"]


register(Kernel("conv2d", "q7", "nn_conv2d_q7", lower, emit, struct="nn_conv_params", scratch=scratch,
                rows=Rows("conv", emit_rows), chunks=chunkings))
