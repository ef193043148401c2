"""Window arithmetic shared by the float reference ops and the integer golden models: which
input samples every output position of a convolution or Caffe pooling window sees. Convolution
is im2col (one strided copy of every window, in chunks of images so the buffer stays bounded)
and one matmul per group. The helpers
are dtype-agnostic, so float and integer executors walk windows the same way."""
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


def pad_hw(x, top, bottom, left, right, value):
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x
    return out


def pool_divisor(o, kernel, stride, pad, size, exclude_pad=False):
    """The average's divisor extent of window o along one axis: Caffe's count (padding up to
    size + pad counts), or with exclude_pad the input cells only (avg_pool's exclude_pad)."""
    start, end, count = ir.pool_window(o, kernel, stride, pad, size)
    return end - start if exclude_pad else count


def pool_offsets(x, kernel, stride, pad, ceil, pad_value, exclude_pad=False):
    """The input samples of every Caffe pooling window (ceil mode; floor mode with ceil False,
    a pool's ceil_mode). Returns (views, counts):
    views is a list of (N, OH, OW, C) arrays, one per kernel offset, and counts (OH, OW) is
    the average's divisor per output position: Caffe's (ir.pool_window), or with exclude_pad
    the input cells in the window (ONNX count_include_pad = 0, TFLite's AVERAGE_POOL_2D)."""
    kh, kw = pair(kernel)
    sh, sw = pair(stride)
    ph, pw = pair(pad)
    n, h, w, c = x.shape
    oh = ir.pool_output_size(h, kh, sh, ph, ceil)
    ow = ir.pool_output_size(w, kw, sw, pw, ceil)
    # Trailing padding so that every (possibly clipped) last window exists in the padded array.
    extra_h = max(0, (oh - 1) * sh + kh - ph - h)
    extra_w = max(0, (ow - 1) * sw + kw - pw - w)
    xp = pad_hw(x, ph, extra_h, pw, extra_w, pad_value)
    views = [xp[:, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw, :]
             for ky in range(kh) for kx in range(kw)]
    ch = np.array([pool_divisor(o, kh, sh, ph, h, exclude_pad) for o in range(oh)], dtype=np.int64)
    cw = np.array([pool_divisor(o, kw, sw, pw, w, exclude_pad) for o in range(ow)], dtype=np.int64)
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
