"""Application pre/post-processing in numpy, bit-exact with firmware_template/app/preprocess.c
and postprocess.c (the algorithm is defined in preprocess.c's header comment; every step here
uses the same integer formulas).

Used by the host tools (`scons run image=...`, eval of arbitrary images) and by the tests that
compare the C code byte for byte.
"""
import numpy as np

from .errors import NnbuildError

FORMATS = {"RGB888": 0, "BGR888": 1, "RGB565_LE": 2, "RGB565_BE": 3, "GRAY8": 4}
RESIZE = {"nearest": 0, "bilinear": 1}
FIT = {"stretch": 0, "crop": 1, "letterbox": 2}
ORDER_CHANNELS = {"RGB": 3, "BGR": 3, "GRAY": 1}
MAX_DIM = 4096  # NN_MAX_DIM


def _choice(value, table, what):
    """Accept the option's name (any case, '_' optional) or its C enum value; return the name."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        for name, code in table.items():
            if code == value:
                return name
    elif isinstance(value, str):
        # the firmware's command line spells them rgb565le / gray8: ignore case and "_"
        key = value.lower().replace("_", "")
        for name in table:
            if name.lower().replace("_", "") == key:
                return name
    raise NnbuildError(f"unknown {what} {value!r}", where=what, expected="one of " + ", ".join(table))


def to_rgb565(img, byte_order="le"):
    """RGB888 image (H, W, 3) -> (H, W, 2) uint8 bytes of RGB565 words (truncating to 5/6/5 bits)."""
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"to_rgb565 needs an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}")
    r, g, b = (img[..., c].astype(np.uint16) for c in range(3))
    word = (r >> 3) << 11 | (g >> 2) << 5 | (b >> 3)
    lo, hi = (word & 0xFF).astype(np.uint8), (word >> 8).astype(np.uint8)
    if byte_order.lower() == "le":
        return np.stack([lo, hi], axis=-1)
    if byte_order.lower() == "be":
        return np.stack([hi, lo], axis=-1)
    raise ValueError(f"byte_order must be 'le' or 'be', got {byte_order!r}")


def frame_bytes(frame, fmt):
    """The frame exactly as the C code receives it (uint8, row-major), for handing to C."""
    fmt = _choice(fmt, FORMATS, "pixel format")
    arr = np.asarray(frame)
    if fmt.startswith("RGB565") and arr.dtype == np.uint16:
        arr = np.stack([arr & 0xFF, arr >> 8] if fmt.endswith("LE") else [arr >> 8, arr & 0xFF],
                       axis=-1).astype(np.uint8)
    return np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


def _source_rgb(frame, fmt, size):
    """Decode the frame to an (H, W, 3) uint8 RGB array (step 1 of the C algorithm)."""
    if isinstance(frame, (bytes, bytearray, memoryview)) or (isinstance(frame, np.ndarray) and frame.ndim == 1):
        if size is None:
            raise NnbuildError("a raw byte frame needs its size", where="preprocess", expected="size=(w, h)")
        w, h = size
        _check_dim(w, h, "frame")
        per = {"RGB888": 3, "BGR888": 3, "GRAY8": 1}.get(fmt, 2)
        raw = np.frombuffer(bytes(frame), np.uint8)
        if raw.size != w * h * per:
            raise NnbuildError(f"frame has {raw.size} bytes", where="preprocess",
                               expected=f"{w}*{h}*{per} = {w * h * per} bytes for {fmt}")
        arr = raw.reshape(h, w, per) if per > 1 else raw.reshape(h, w)
    else:
        arr = np.asarray(frame)
    if fmt in ("RGB888", "BGR888"):
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise NnbuildError(f"{fmt} frame has shape {arr.shape} {arr.dtype}", where="preprocess",
                               expected="(H, W, 3) uint8")
        return arr if fmt == "RGB888" else arr[..., ::-1]
    if fmt == "GRAY8":
        if arr.dtype != np.uint8 or arr.ndim != 2:
            raise NnbuildError(f"GRAY8 frame has shape {arr.shape} {arr.dtype}", where="preprocess",
                               expected="(H, W) uint8")
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.dtype == np.uint16 and arr.ndim == 2:
        word = arr.astype(np.uint32)
    elif arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 2:
        b0, b1 = arr[..., 0].astype(np.uint32), arr[..., 1].astype(np.uint32)
        word = b0 | b1 << 8 if fmt == "RGB565_LE" else b0 << 8 | b1
    else:
        raise NnbuildError(f"{fmt} frame has shape {arr.shape} {arr.dtype}", where="preprocess",
                           expected="(H, W) uint16 words or (H, W, 2) uint8 bytes")
    r5, g6, b5 = word >> 11, (word >> 5) & 63, word & 31
    return np.stack([r5 << 3 | r5 >> 2, g6 << 2 | g6 >> 4, b5 << 3 | b5 >> 2], axis=-1).astype(np.uint8)


def _check_dim(w, h, what):
    if not (1 <= w <= MAX_DIM and 1 <= h <= MAX_DIM):
        raise NnbuildError(f"{what} size {w}x{h} is out of range", where="preprocess",
                           expected=f"1..{MAX_DIM} in each dimension")


def _rdiv(a, b):
    return (2 * a + b) // (2 * b)


def fit_rects(fit, w, h, out_w, out_h):
    """((sx0, sw, dx0, dw), (sy0, sh, dy0, dh)) for a fit mode (step 2 of the C algorithm)."""
    fit = _choice(fit, FIT, "fit")
    ax, ay = [0, w, 0, out_w], [0, h, 0, out_h]
    wider = w * out_h > h * out_w
    if fit == "crop":
        if wider:
            ax[1] = min(max(_rdiv(h * out_w, out_h), 1), w)
            ax[0] = (w - ax[1]) // 2
        else:
            ay[1] = min(max(_rdiv(w * out_h, out_w), 1), h)
            ay[0] = (h - ay[1]) // 2
    elif fit == "letterbox":
        if wider:
            ay[3] = min(max(_rdiv(out_w * h, w), 1), out_h)
            ay[2] = (out_h - ay[3]) // 2
        else:
            ax[3] = min(max(_rdiv(out_h * w, h), 1), out_w)
            ax[2] = (out_w - ax[3]) // 2
    return tuple(ax), tuple(ay)


def _taps(s0, sn, dn, resize):
    """Per destination index: (index0, index1, 11-bit weight of index1) along one axis."""
    step = ((sn << 16) + dn // 2) // dn
    pos = np.arange(dn, dtype=np.int64) * step + step // 2
    if resize == "nearest":
        x = np.minimum(pos >> 16, sn - 1)
        return s0 + x, s0 + x, np.zeros(dn, np.int64)
    f = np.clip(pos - 32768, 0, (sn - 1) << 16)
    x0 = f >> 16
    return s0 + x0, s0 + np.minimum(x0 + 1, sn - 1), (f & 0xFFFF) >> 5


def preprocess(frame, fmt, out_h, out_w, out_c, channel_order, resize="bilinear", fit="stretch",
               flip_h=False, flip_v=False, pad_value=0, size=None):
    """Camera frame -> (out_h, out_w, out_c) uint8 model input, exactly as nn_preprocess does.

    frame: (H, W, 3) uint8 for RGB888/BGR888 (bytes in that order), (H, W) uint8 for GRAY8,
    (H, W) uint16 words or (H, W, 2) uint8 bytes for RGB565_LE/BE; or raw bytes with size=(w, h).
    fmt/resize/fit: names ("RGB565_LE", "bilinear", "crop") or the C enum values.
    """
    fmt = _choice(fmt, FORMATS, "pixel format")
    resize = _choice(resize, RESIZE, "resize")
    order = channel_order.upper() if isinstance(channel_order, str) else channel_order
    if order not in ORDER_CHANNELS:
        raise NnbuildError(f"unknown channel order {channel_order!r}", where="preprocess",
                           expected="RGB, BGR or GRAY")
    if out_c != ORDER_CHANNELS[order]:
        raise NnbuildError(f"out_c {out_c} does not match channel order {order}", where="preprocess",
                           expected=f"out_c = {ORDER_CHANNELS[order]}")
    _check_dim(out_w, out_h, "output")
    if not 0 <= int(pad_value) <= 255:
        raise NnbuildError(f"pad_value {pad_value} is not a byte", where="preprocess", expected="0..255")
    rgb = _source_rgb(frame, fmt, size)
    h, w = rgb.shape[:2]
    _check_dim(w, h, "frame")
    if flip_h:
        rgb = rgb[:, ::-1]
    if flip_v:
        rgb = rgb[::-1]
    (sx0, sw, dx0, dw), (sy0, sh, dy0, dh) = fit_rects(fit, w, h, out_w, out_h)
    x0, x1, wx = _taps(sx0, sw, dw, resize)
    y0, y1, wy = _taps(sy0, sh, dh, resize)
    src = rgb.astype(np.int64)
    if resize == "nearest":
        inner = src[y0[:, None], x0[None, :]]
    else:
        ax, ay = wx[None, :, None], wy[:, None, None]
        top = src[y0[:, None], x0[None, :]] * (2048 - ax) + src[y0[:, None], x1[None, :]] * ax
        bot = src[y1[:, None], x0[None, :]] * (2048 - ax) + src[y1[:, None], x1[None, :]] * ax
        inner = (top * (2048 - ay) + bot * ay + (1 << 21)) >> 22
    if order == "RGB":
        pix = inner
    elif order == "BGR":
        pix = inner[..., ::-1]
    else:
        pix = (77 * inner[..., 0:1] + 150 * inner[..., 1:2] + 29 * inner[..., 2:3] + 128) >> 8
    out = np.full((out_h, out_w, out_c), int(pad_value), np.uint8)
    out[dy0:dy0 + dh, dx0:dx0 + dw] = pix
    return out


def topk(scores, k):
    """Indices of the k largest scores, ties broken by the lower index (nn_topk)."""
    scores = np.asarray(scores).ravel()
    if not 1 <= k <= scores.size:
        raise ValueError(f"k = {k} is out of range for {scores.size} scores")
    return [int(i) for i in np.argsort(-scores.astype(np.int64), kind="stable")[:k]]


def softmax_percent(scores, exp_table):
    """Softmax of q7 scores as rounded integer percentages (nn_softmax_percent)."""
    q = np.asarray(scores, np.int64).ravel()
    table = np.asarray(exp_table, np.int64)
    if table.shape != (256,):
        raise ValueError(f"exp_table must have 256 entries, got shape {table.shape}")
    e = table[q.max() - q]
    s = int(e.sum())
    if s <= 0:
        raise ValueError("exp_table sums to 0: exp_table[0] must be positive")
    return ((e * 100 + s // 2) // s).astype(np.int16)
