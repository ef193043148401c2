"""Float reference executor (numpy, batched) with Caffe's semantics.

Activations are (N, H, W, C) arrays, one row per image. Convolution is im2col (one strided copy
of every window, in chunks of images so the buffer stays bounded) and one matmul per group. The
window helpers here are dtype-agnostic and shared with the integer golden model, so both walk
windows the same way.
"""
import numpy as np

from . import ir
from .errors import NnbuildError


def pair(v):
    """An attribute given as an int or an (h, w) pair -> (h, w) ints."""
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        return int(v[0]), int(v[1])
    return int(v), int(v)


# -- window helpers (shared with golden.py) -------------------------------------------------------

def pad_hw(x, top, bottom, left, right, value):
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x
    return out


def pool_offsets(x, kernel, stride, pad, pad_value):
    """Like conv_offsets for Caffe pooling (ceil mode). Returns (views, counts) where views is a
    list of (N, OH, OW, C) arrays, one per kernel offset, and counts (OH, OW) is Caffe's
    average divisor per output position (ir.pool_window)."""
    kh, kw = pair(kernel)
    sh, sw = pair(stride)
    ph, pw = pair(pad)
    n, h, w, c = x.shape
    oh = ir.pool_output_size(h, kh, sh, ph)
    ow = ir.pool_output_size(w, kw, sw, pw)
    # Trailing padding so that every (possibly clipped) last window exists in the padded array.
    extra_h = max(0, (oh - 1) * sh + kh - ph - h)
    extra_w = max(0, (ow - 1) * sw + kw - pw - w)
    xp = pad_hw(x, ph, extra_h, pw, extra_w, pad_value)
    views = [xp[:, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw, :]
             for ky in range(kh) for kx in range(kw)]
    ch = np.array([ir.pool_window(o, kh, sh, ph, h)[2] for o in range(oh)], dtype=np.int64)
    cw = np.array([ir.pool_window(o, kw, sw, pw, w)[2] for o in range(ow)], dtype=np.int64)
    return views, np.outer(ch, cw)


def grouped_conv(x, weight, stride, pad, dilation, group, acc_dtype, max_elems=1 << 23):
    """Convolution as im2col + one (batched over groups) matmul; returns (N, OH, OW, O).

    Images are processed in chunks so that the im2col buffer stays below `max_elems` values.
    With acc_dtype float64 and integer inputs this is exact (every partial sum is an integer far
    below 2**53), which is what the golden model relies on."""
    o_ch, kh, kw, ig = weight.shape
    g = int(group)
    og = o_ch // g
    if x.shape[3] != ig * g or o_ch % g:
        raise NnbuildError(f"convolution input has {x.shape[3]} channels and {o_ch} outputs",
                           expected=f"{ig * g} input channels (weight I/group x group), outputs divisible by {g}")
    kk = kh * kw
    # (G, KH*KW*Ig, Og): rows in the im2col column order (ky, kx, ic)
    wt = weight.reshape(g, og, kh, kw, ig).transpose(0, 2, 3, 4, 1).reshape(g, kk * ig, og).astype(acc_dtype)
    n, h, w = x.shape[:3]
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(pad), pair(dilation)
    oh, ow = ir.conv_output_size(h, kh, sh, ph, dh), ir.conv_output_size(w, kw, sw, pw, dw)
    if oh <= 0 or ow <= 0:
        raise NnbuildError(f"convolution output would be empty ({oh}x{ow})",
                           expected="kernel extent <= padded input")
    step = max(1, max_elems // max(1, oh * ow * kk * ig * g))
    outs = []
    for start in range(0, max(n, 1), step):
        xs = x[start:start + step]
        b = xs.shape[0]
        # One strided copy of all windows (as fast as BLAS itself; a loop over kernel offsets
        # was most of the conv time): windows (b, oh, ow, C, KH, KW) -> cols (b, oh, ow, KH, KW, C).
        xp = pad_hw(xs, ph, ph, pw, pw, 0)
        win = np.lib.stride_tricks.sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
        win = win[:, :sh * (oh - 1) + 1:sh, :sw * (ow - 1) + 1:sw, :, ::dh, ::dw]
        cols = np.empty((b, oh, ow, kh, kw, g, ig), dtype=acc_dtype)
        np.copyto(cols.reshape(b, oh, ow, kh, kw, g * ig), win.transpose(0, 1, 2, 4, 5, 3))
        m = b * oh * ow
        # (M, KK, G, Ig) -> (G, M, KK*Ig): one matmul per group (a no-op transpose when G == 1)
        a = cols.reshape(m, kk, g, ig).transpose(2, 0, 1, 3).reshape(g, m, kk * ig)
        y = np.matmul(a, wt)                                   # (G, M, Og)
        outs.append(y.transpose(1, 0, 2).reshape(b, oh, ow, o_ch))
    return np.concatenate(outs) if len(outs) > 1 else outs[0]


# -- float ops ------------------------------------------------------------------------------------

def _conv2d(op, x):
    a = op.attrs
    y = grouped_conv(x, np.asarray(op.params["weight"], np.float32), a["stride"], a["pad"],
                     a.get("dilation", 1), a.get("group", 1), np.float32)
    b = op.params.get("bias")
    if b is not None:
        y += np.asarray(b, np.float32)      # y is a fresh array: in place, same float32 sums
    return y


def _fully_connected(op, x):
    w = np.asarray(op.params["weight"], np.float32)
    y = x.reshape(x.shape[0], -1) @ w.T
    b = op.params.get("bias")
    if b is not None:
        y = y + np.asarray(b, np.float32)
    return y.reshape(x.shape[0], 1, 1, -1)


def _max_pool(op, x):
    views, _ = pool_offsets(x, op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"], -np.inf)
    return np.maximum.reduce(views)


def _avg_pool(op, x):
    views, counts = pool_offsets(x, op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"], 0.0)
    return (np.add.reduce(views) / counts[None, :, :, None]).astype(np.float32)


def _relu(op, x):
    slope = float(op.attrs.get("negative_slope", 0.0))
    return np.where(x > 0, x, x * np.float32(slope)) if slope else np.maximum(x, 0)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _input_stage(op, pixels):
    mean = np.asarray(op.params.get("mean", 0.0), np.float32)
    return ((pixels.astype(np.float32) - mean) * np.float32(op.attrs["scale"])).astype(np.float32)


def run_op(op, args):
    """Evaluate one float op on a list of batched input arrays."""
    t = op.type
    if t == "input_stage":
        return _input_stage(op, args[0])
    if t == "conv2d":
        return _conv2d(op, args[0])
    if t == "fully_connected":
        return _fully_connected(op, args[0])
    if t == "max_pool":
        return _max_pool(op, args[0])
    if t == "avg_pool":
        return _avg_pool(op, args[0])
    if t == "relu":
        return _relu(op, args[0])
    if t == "add":
        return np.add.reduce(args)
    if t == "concat":
        return np.concatenate(args, axis=-1)
    if t == "sigmoid":
        return (0.5 + 0.5 * np.tanh(0.5 * args[0])).astype(np.float32)   # = 1/(1+e^-x), no overflow
    if t == "tanh":
        return np.tanh(args[0])
    if t == "softmax":
        return _softmax(args[0])
    raise NnbuildError(f"the float reference cannot execute op type '{t}'", where=f"op '{op.name}'")


def check_pixels(graph, pixels):
    """uint8 (N, H, W, C) matching the graph input, else a clear error."""
    pixels = np.asarray(pixels)
    want = tuple(graph.tensors[graph.input].shape)
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or tuple(pixels.shape[1:]) != want:
        raise NnbuildError(f"input images are {pixels.dtype} {tuple(pixels.shape)}",
                           where=f"model '{graph.name}' input",
                           expected=f"uint8 (N, {', '.join(map(str, want))})")
    return pixels


def execute(graph, pixels, run_op_fn, keep):
    """Run `graph` on one batch; return {name: array} for the tensors in `keep` (None = all)."""
    values = {graph.input: pixels}
    for op in graph.ops:
        y = run_op_fn(op, [values[i] for i in op.inputs])
        values[op.outputs[0]] = y
    if keep is None:
        return values
    return {k: values[k] for k in keep}


def run_batched(graph, pixels, outputs, batch, run_op_fn):
    pixels = check_pixels(graph, pixels)
    names = list(graph.outputs[:1]) if outputs is None else list(outputs)
    for n in names:
        if n not in graph.tensors:
            raise NnbuildError(f"unknown tensor '{n}'", where=f"model '{graph.name}'")
    parts = {n: [] for n in names}
    for i in range(0, max(len(pixels), 1), batch):
        vals = execute(graph, pixels[i:i + batch], run_op_fn, names)
        for n in names:
            parts[n].append(vals[n])
    out = {n: parts[n][0] if len(parts[n]) == 1 else np.concatenate(parts[n]) for n in names}
    return out[names[0]] if outputs is None else out


def run(graph, pixels, outputs=None, batch=256):
    """Float outputs for uint8 pixels (N, H, W, C).

    Returns the first graph output (N, H, W, C) or, when `outputs` is a list of tensor names,
    a dict name -> array."""
    return run_batched(graph, pixels, outputs, batch, run_op)


def run_all(graph, pixels, batch=256):
    """Every tensor of the graph (name -> float array), for calibration."""
    return run(graph, pixels, outputs=list(graph.tensors), batch=batch)
