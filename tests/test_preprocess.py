"""nn_preprocess / nn_topk / nn_softmax_percent / nn_classify (C, via ctypes) against the numpy
twin in nnbuild.preprocess: byte for byte on randomized frames, plus hand-computed values so a
shared mistake cannot pass, plus every error code."""
import ctypes
import itertools

import numpy as np
import pytest

from nnbuild import hostcc
from nnbuild.errors import NnbuildError
from nnbuild.preprocess import FORMATS, FIT, RESIZE, frame_bytes, preprocess, softmax_percent, to_rgb565, topk

NN_OK, NN_ERR_FORMAT, NN_ERR_SIZE, NN_ERR_ARG, NN_ERR_MODEL = 0, -1, -2, -3, -4


class Opts(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("resize", ctypes.c_int), ("fit", ctypes.c_int),
                ("flip_h", ctypes.c_uint8), ("flip_v", ctypes.c_uint8), ("pad_value", ctypes.c_uint8)]


RUN_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_int8))


class Model(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("in_h", ctypes.c_int16), ("in_w", ctypes.c_int16),
                ("in_c", ctypes.c_int16), ("channel_order", ctypes.c_char_p), ("out_n", ctypes.c_int16),
                ("out_scale", ctypes.c_float), ("out_zero_point", ctypes.c_int32), ("run", RUN_FN),
                ("labels", ctypes.POINTER(ctypes.c_char_p)), ("softmax_exp_table", ctypes.POINTER(ctypes.c_int32)),
                ("softmax_exp_len", ctypes.c_int16), ("n_layers", ctypes.c_int16), ("layer_names", ctypes.POINTER(ctypes.c_char_p)),
                ("layer_ops", ctypes.POINTER(ctypes.c_char_p)), ("layer_macs", ctypes.POINTER(ctypes.c_uint32)),
                ("macs", ctypes.c_uint32), ("arena_bytes", ctypes.c_uint32)]


class Result(ctypes.Structure):
    _fields_ = [("index", ctypes.c_int16), ("score", ctypes.c_int8), ("percent", ctypes.c_int16),
                ("label", ctypes.c_char_p)]


@pytest.fixture(scope="session")
def lib(root, tmp_path_factory):
    app = root / "firmware_template" / "app"
    path = hostcc.build_shared([app / "preprocess.c", app / "postprocess.c"],
                               tmp_path_factory.mktemp("app_lib"), include_dirs=[app])
    return hostcc.load(path)


def c_preprocess(lib, frame, w, h, fmt, out_h, out_w, out_c, order, resize=1, fit=0,
                 flip_h=0, flip_v=0, pad=0):
    opts = Opts(fmt, resize, fit, flip_h, flip_v, pad)
    out = np.zeros(out_h * out_w * out_c, np.uint8)
    src = (ctypes.c_uint8 * max(len(frame), 1)).from_buffer_copy(frame or b"\0")
    rc = lib.nn_preprocess(src, w, h, ctypes.byref(opts), out_h, out_w, out_c, order.encode(),
                           out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
    return rc, out.reshape(out_h, out_w, out_c)


def random_frame(rng, fmt, h, w):
    if fmt in ("RGB888", "BGR888"):
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if fmt == "GRAY8":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    return rng.integers(0, 65536, (h, w), dtype=np.uint16)


SIZES = [(1, 1), (1, 7), (5, 1), (3, 5), (7, 9), (28, 28), (31, 17), (13, 40), (64, 48)]
OUTS = [(1, 1, "GRAY"), (28, 28, "GRAY"), (32, 32, "RGB"), (5, 9, "BGR"), (16, 12, "RGB")]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_c_matches_python_on_random_frames(lib, fmt):
    """All resize x fit x flip combinations, up- and down-scaling, 1x1 and odd sizes."""
    rng = np.random.default_rng(FORMATS[fmt])
    checked = 0
    for resize, fit, flip_h, flip_v in itertools.product(RESIZE, FIT, (0, 1), (0, 1)):
        for n, (h, w) in enumerate(SIZES):
            oh, ow, order = OUTS[(n + checked) % len(OUTS)]   # rotate so each size meets each output
            h, w = (h, w) if rng.random() < 0.5 else (w, h)
            frame = random_frame(rng, fmt, h, w)
            pad = int(rng.integers(0, 256))
            want = preprocess(frame, fmt, oh, ow, 1 if order == "GRAY" else 3, order, resize=resize, fit=fit,
                              flip_h=flip_h, flip_v=flip_v, pad_value=pad)
            rc, got = c_preprocess(lib, frame_bytes(frame, fmt), w, h, FORMATS[fmt], oh, ow, want.shape[2], order,
                                   RESIZE[resize], FIT[fit], flip_h, flip_v, pad)
            assert rc == NN_OK
            np.testing.assert_array_equal(got, want, err_msg=f"{fmt} {w}x{h}->{ow}x{oh} {order} "
                                          f"{resize} {fit} flip {flip_h}{flip_v}")
            checked += 1
    assert checked == 2 * 3 * 4 * len(SIZES)


def test_large_frame_to_model_size(lib):
    """A VGA RGB565 camera frame down to 32x32 (the CIFAR input) and to 28x28 gray."""
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 65536, (480, 640), dtype=np.uint16)
    for fit, (oh, ow, oc, order) in itertools.product(FIT, [(32, 32, 3, "RGB"), (28, 28, 1, "GRAY")]):
        want = preprocess(frame, "RGB565_BE", oh, ow, oc, order, fit=fit)
        rc, got = c_preprocess(lib, frame_bytes(frame, "RGB565_BE"), 640, 480, FORMATS["RGB565_BE"],
                               oh, ow, oc, order, 1, FIT[fit])
        assert rc == NN_OK
        np.testing.assert_array_equal(got, want)


# -- hand-computed values (independent of the C/Python agreement) --------------------------------

def test_rgb565_bit_replication_both_byte_orders():
    words = np.array([[0xFFFF, 0xF800, 0x07E0, 0x001F, 0x0821, 0x8430]], np.uint16)
    want = [[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [8, 4, 8], [132, 134, 132]]
    for fmt in ("RGB565_LE", "RGB565_BE"):
        raw = frame_bytes(words, fmt)
        assert raw[:2] == (b"\xff\xff")
        assert raw[2:4] == (b"\x00\xf8" if fmt == "RGB565_LE" else b"\xf8\x00")
        out = preprocess(raw, fmt, 1, 6, 3, "RGB", resize="nearest", size=(6, 1))
        assert out[0].tolist() == want


def test_to_rgb565_roundtrip_keeps_high_bits():
    img = np.array([[[255, 128, 7], [8, 4, 250]]], np.uint8)
    le, be = to_rgb565(img, "le"), to_rgb565(img, "be")
    np.testing.assert_array_equal(le[..., ::-1], be)
    back = preprocess(le, "RGB565_LE", 1, 2, 3, "RGB", resize="nearest")
    assert back.tolist() == [[[255, 130, 0], [8, 4, 255]]]


def test_gray_luma_and_channel_orders():
    img = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    gray = preprocess(img, "RGB888", 1, 4, 1, "GRAY", resize="nearest")
    assert gray[0, :, 0].tolist() == [77, 149, 29, (77 * 10 + 150 * 20 + 29 * 30 + 128) >> 8]
    bgr = preprocess(img, "RGB888", 1, 4, 3, "BGR", resize="nearest")
    assert bgr[0, 3].tolist() == [30, 20, 10]
    assert preprocess(img, "BGR888", 1, 4, 3, "RGB", resize="nearest")[0, 3].tolist() == [30, 20, 10]
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(preprocess(g, "GRAY8", 16, 16, 1, "GRAY")[..., 0], g)


def test_same_size_is_identity_for_both_resizers():
    img = np.random.default_rng(3).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    for mode in RESIZE:
        np.testing.assert_array_equal(preprocess(img, "RGB888", 9, 13, 3, "RGB", resize=mode), img)


def test_nearest_and_bilinear_hand_values():
    ramp = np.array([[0, 100]], np.uint8)
    # bilinear 2 -> 4: source x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    assert preprocess(ramp, "GRAY8", 1, 4, 1, "GRAY")[0, :, 0].tolist() == [0, 25, 75, 100]
    img = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    # nearest 4 -> 2 takes source centres 1 and 3
    assert preprocess(img, "GRAY8", 2, 2, 1, "GRAY", resize="nearest")[..., 0].tolist() == [[50, 70], [130, 150]]
    # bilinear 4 -> 2 averages each 2x2 block (centre at 0.5, 2.5), rounding half up
    assert preprocess(img, "GRAY8", 2, 2, 1, "GRAY")[..., 0].tolist() == [[25, 45], [105, 125]]


def test_crop_letterbox_and_flips_hand_values():
    img = (np.arange(32, dtype=np.uint8).reshape(4, 8))
    # crop of an 8x4 frame to 2x2 keeps columns 2..5; nearest picks columns 3, 5 and rows 1, 3
    crop = preprocess(img, "GRAY8", 2, 2, 1, "GRAY", resize="nearest", fit="crop")[..., 0]
    assert crop.tolist() == [[11, 13], [27, 29]]
    # letterbox of 8x4 into 4x4: content rows 1..2, pad rows 0 and 3
    box = preprocess(img, "GRAY8", 4, 4, 1, "GRAY", resize="nearest", fit="letterbox", pad_value=200)[..., 0]
    assert box[0].tolist() == [200] * 4 and box[3].tolist() == [200] * 4
    assert box[1].tolist() == [9, 11, 13, 15] and box[2].tolist() == [25, 27, 29, 31]
    tall = np.zeros((10, 4), np.uint8)
    box = preprocess(tall, "GRAY8", 5, 5, 1, "GRAY", fit="letterbox", pad_value=9)[..., 0]
    # content width rdiv(5*4, 10) = 2 at dx0 = (5-2)//2 = 1
    assert (box[:, [0, 3, 4]] == 9).all() and (box[:, 1:3] == 0).all()
    flipped = preprocess(img, "GRAY8", 4, 8, 1, "GRAY", flip_h=True, flip_v=True)[..., 0]
    np.testing.assert_array_equal(flipped, img[::-1, ::-1])


def test_rgb565_raw_bytes_need_size_and_length():
    with pytest.raises(NnbuildError, match="size"):
        preprocess(b"\0" * 8, "RGB565_LE", 2, 2, 3, "RGB")
    with pytest.raises(NnbuildError, match="8 bytes"):
        preprocess(b"\0" * 6, "RGB565_LE", 2, 2, 3, "RGB", size=(2, 2))


# -- errors --------------------------------------------------------------------------------------

def test_c_error_codes(lib):
    frame = bytes(3 * 4 * 4)
    ok = dict(fmt=0, out_h=2, out_w=2, out_c=3, order="RGB")
    assert c_preprocess(lib, frame, 4, 4, **ok)[0] == NN_OK
    for w, h in [(0, 4), (4, 0), (-1, 4), (4097, 1), (1, 5000)]:
        assert c_preprocess(lib, frame, w, h, **ok)[0] == NN_ERR_SIZE
    assert c_preprocess(lib, frame, 4, 4, 0, 0, 2, 3, "RGB")[0] == NN_ERR_SIZE
    assert c_preprocess(lib, frame, 4, 4, 0, 2, 4097, 3, "RGB")[0] == NN_ERR_SIZE
    assert c_preprocess(lib, frame, 4, 4, 5, 2, 2, 3, "RGB")[0] == NN_ERR_FORMAT
    assert c_preprocess(lib, frame, 4, 4, -1, 2, 2, 3, "RGB")[0] == NN_ERR_FORMAT
    assert c_preprocess(lib, frame, 4, 4, resize=2, **ok)[0] == NN_ERR_FORMAT
    assert c_preprocess(lib, frame, 4, 4, fit=3, **ok)[0] == NN_ERR_FORMAT
    assert c_preprocess(lib, frame, 4, 4, 0, 2, 2, 3, "YUV")[0] == NN_ERR_FORMAT
    assert c_preprocess(lib, frame, 4, 4, 0, 2, 2, 1, "RGB")[0] == NN_ERR_FORMAT
    assert c_preprocess(lib, frame, 4, 4, 0, 2, 2, 3, "GRAY")[0] == NN_ERR_FORMAT
    opts = Opts(0, 0, 0, 0, 0, 0)
    out = (ctypes.c_uint8 * 12)()
    src = (ctypes.c_uint8 * 48)()
    assert lib.nn_preprocess(None, 4, 4, ctypes.byref(opts), 2, 2, 3, b"RGB", out) == NN_ERR_ARG
    assert lib.nn_preprocess(src, 4, 4, None, 2, 2, 3, b"RGB", out) == NN_ERR_ARG
    assert lib.nn_preprocess(src, 4, 4, ctypes.byref(opts), 2, 2, 3, None, out) == NN_ERR_ARG
    assert lib.nn_preprocess(src, 4, 4, ctypes.byref(opts), 2, 2, 3, b"RGB", None) == NN_ERR_ARG


def test_python_errors_name_the_problem():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(NnbuildError, match="pixel format"):
        preprocess(img, "YUYV", 2, 2, 3, "RGB")
    with pytest.raises(NnbuildError, match="resize"):
        preprocess(img, "RGB888", 2, 2, 3, "RGB", resize="cubic")
    with pytest.raises(NnbuildError, match="channel order"):
        preprocess(img, "RGB888", 2, 2, 3, "RGBA")
    with pytest.raises(NnbuildError, match="out_c"):
        preprocess(img, "RGB888", 2, 2, 1, "RGB")
    with pytest.raises(NnbuildError, match="out of range"):
        preprocess(img, "RGB888", 0, 2, 3, "RGB")
    with pytest.raises(NnbuildError, match=r"\(H, W, 3\)"):
        preprocess(img[..., 0], "RGB888", 2, 2, 3, "RGB")
    with pytest.raises(NnbuildError, match="out of range"):
        preprocess(np.zeros((1, 4097), np.uint8), "GRAY8", 2, 2, 1, "GRAY")


# -- top-k, softmax, classify --------------------------------------------------------------------

def exp_table(frac_bits):
    return np.round(65536 * np.exp(-np.arange(256) * 2.0 ** -frac_bits)).astype(np.int32)


def c_topk(lib, scores, k):
    s = np.asarray(scores, np.int8)
    idx = np.zeros(max(k, 1), np.int16)
    rc = lib.nn_topk(s.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)), len(s), k,
                     idx.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)))
    return rc, idx[:k].tolist()


def make_model(scores_fn, table, labels, in_shape=(4, 4, 3), order=b"RGB", rc=0):
    """An nn_model whose run() is a Python function of the pixels (kept alive by the caller)."""
    out_n = len(labels)

    def run(pixels, scores):
        px = np.ctypeslib.as_array(pixels, (int(np.prod(in_shape)),)).copy()
        for i, v in enumerate(scores_fn(px)):
            scores[i] = int(v)
        return rc

    # stored as the generator does: up to the last non-zero entry (the C reads zeros after it)
    n_exp = int(np.flatnonzero(table)[-1]) + 1 if table is not None else 0
    keep = {"run": RUN_FN(run), "labels": (ctypes.c_char_p * out_n)(*labels),
            "table": (ctypes.c_int32 * n_exp)(*table[:n_exp].tolist()) if table is not None else None}
    m = Model(name=b"t", in_h=in_shape[0], in_w=in_shape[1], in_c=in_shape[2], channel_order=order,
              out_n=out_n, out_scale=2.0 ** -4, out_zero_point=0, run=keep["run"], labels=keep["labels"],
              softmax_exp_table=keep["table"], softmax_exp_len=n_exp)
    return m, keep


def test_topk_ties_and_errors(lib):
    scores = [3, -7, 9, 9, 3, 127, -128, 9]
    assert topk(scores, 5) == [5, 2, 3, 7, 0]
    assert c_topk(lib, scores, 5) == (NN_OK, [5, 2, 3, 7, 0])
    assert c_topk(lib, scores, 8) == (NN_OK, [5, 2, 3, 7, 0, 4, 1, 6])
    rng = np.random.default_rng(11)
    for _ in range(50):
        s = rng.integers(-4, 4, int(rng.integers(1, 30))).astype(np.int8)   # many ties
        k = int(rng.integers(1, len(s) + 1))
        assert c_topk(lib, s, k) == (NN_OK, topk(s, k))
    assert c_topk(lib, scores, 0)[0] == NN_ERR_ARG
    assert c_topk(lib, scores, 9)[0] == NN_ERR_ARG
    with pytest.raises(ValueError):
        topk(scores, 9)


def test_softmax_percent_hand_values_and_c(lib):
    table = exp_table(4)
    assert softmax_percent([5, 5], table).tolist() == [50, 50]
    assert softmax_percent([127, -128, -128], table).tolist() == [100, 0, 0]
    # logits 1.0 and 0.0 (frac 4): e = 65536 and round(65536 * e^-1) = 24109 -> 73 %, 27 %
    assert int(table[16]) == 24109
    assert softmax_percent([16, 0], table).tolist() == [73, 27]
    rng = np.random.default_rng(5)
    for _ in range(30):
        s = rng.integers(-128, 128, 10).astype(np.int8)
        m, keep = make_model(lambda px: s, table, [b"x"] * 10)
        out = np.zeros(10, np.int16)
        assert lib.nn_softmax_percent(ctypes.byref(m), s.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
                                      out.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))) == NN_OK
        np.testing.assert_array_equal(out, softmax_percent(s, table))
    m, keep = make_model(lambda px: s, None, [b"x"] * 10)
    assert lib.nn_softmax_percent(ctypes.byref(m), s.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
                                  out.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))) == NN_ERR_ARG


def test_classify_end_to_end(lib):
    """Frame -> nn_preprocess -> run -> top-k with labels and percentages."""
    table = exp_table(3)
    labels = [b"zero", b"one", b"two", b"three", b"four"]
    seen = {}

    def scores_fn(px):
        seen["px"] = px
        return [(int(px[i::5].sum()) % 200) - 100 for i in range(5)]

    m, keep = make_model(scores_fn, table, labels, in_shape=(4, 4, 3), order=b"BGR")
    frame = np.random.default_rng(2).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    opts = Opts(FORMATS["RGB888"], RESIZE["bilinear"], FIT["crop"], 1, 0, 0)
    pixbuf = (ctypes.c_uint8 * 48)()
    scores = (ctypes.c_int8 * 5)()
    top = (Result * 3)()
    src = (ctypes.c_uint8 * frame.size).from_buffer_copy(frame.tobytes())
    assert lib.nn_classify(ctypes.byref(m), src, 10, 6, ctypes.byref(opts), pixbuf, scores, 3, top) == NN_OK
    want_px = preprocess(frame, "RGB888", 4, 4, 3, "BGR", fit="crop", flip_h=True)
    np.testing.assert_array_equal(seen["px"], want_px.ravel())
    s = np.array(scores_fn(want_px.ravel()), np.int8)
    pct = softmax_percent(s, table)
    assert [t.index for t in top] == topk(s, 3)
    assert [t.score for t in top] == [int(s[i]) for i in topk(s, 3)]
    assert [t.percent for t in top] == [int(pct[i]) for i in topk(s, 3)]
    assert [t.label for t in top] == [labels[i] for i in topk(s, 3)]
    # errors: k out of range, bad frame size, failing model
    assert lib.nn_classify(ctypes.byref(m), src, 10, 6, ctypes.byref(opts), pixbuf, scores, 6, top) == NN_ERR_ARG
    assert lib.nn_classify(ctypes.byref(m), src, 0, 6, ctypes.byref(opts), pixbuf, scores, 3, top) == NN_ERR_SIZE
    bad, keep2 = make_model(scores_fn, table, labels, order=b"BGR", rc=1)
    assert lib.nn_classify(ctypes.byref(bad), src, 10, 6, ctypes.byref(opts), pixbuf, scores, 3, top) == NN_ERR_MODEL
