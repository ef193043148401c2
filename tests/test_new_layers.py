"""PReLU, standalone Scale/Bias/BatchNorm (channel_affine) and LRN (both regions): Caffe import,
float semantics against independent loops, q7 golden against the C kernels (every variant), and
a whole net through quantization, generated C and the golden model."""
import numpy as np
import pytest

from nnbuild import golden, reference
from nnbuild.errors import NnbuildError
from nnbuild.quantize import quantize
from nnbuild.quantize.q7.ops.lrn import index_value, table_index
from test_frontend_caffe import INPUT_8x8x3, conv, model, rand

RNG = np.random.default_rng(99)


# -- float semantics: Caffe's definitions written as plain loops -----------------------------------

def lrn_loops(x, n, alpha, beta, k, region):
    """x (H, W, C) float64 -> Caffe LRN (CHW semantics, written per element)."""
    h, w, c = x.shape
    p = (n - 1) // 2
    y = np.empty_like(x)
    for i in range(h):
        for j in range(w):
            for ch in range(c):
                if region == "across":
                    s = sum(x[i, j, cc] ** 2 for cc in range(ch - p, ch + p + 1) if 0 <= cc < c)
                    scale = k + alpha / n * s
                else:   # AVE pooling of x^2, pad p, divisor n*n (padding counts), then 1 + alpha * avg
                    s = sum(x[ii, jj, ch] ** 2 for ii in range(i - p, i + p + 1) for jj in range(j - p, j + p + 1)
                            if 0 <= ii < h and 0 <= jj < w)
                    scale = 1.0 + alpha * s / (n * n)
                y[i, j, ch] = x[i, j, ch] * scale ** -beta
    return y


def lrn_layer(name, bottom, top, n, alpha, beta, k, region):
    return (f'layer {{ name: "{name}" type: "LRN" bottom: "{bottom}" top: "{top}" lrn_param {{ local_size: {n} '
            f'alpha: {alpha} beta: {beta} k: {k} norm_region: {region.upper()}_CHANNEL{"S" if region == "across" else ""} }} }}\n')


@pytest.mark.parametrize("region", ["across", "within"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_lrn_float_matches_caffe_loops(tmp_path, region, n):
    proto = INPUT_8x8x3 + lrn_layer("norm", "data", "norm", n, 0.7, 0.75, 2.0, region)
    g, _, _ = model(tmp_path, proto, {}, scale=1 / 64)
    assert g.op("norm").type == "lrn" and g.op("norm").attrs["region"] == region
    px = RNG.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    got = reference.run(g, px)
    for i in range(2):
        want = lrn_loops(px[i].astype(np.float64) / 64, n, 0.7, 0.75, 2.0, region)
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)


def test_prelu_scale_bias_batchnorm_float_and_import(tmp_path):
    proto = INPUT_8x8x3 + conv("c", "data", "c", "num_output: 4 kernel_size: 3") + """
    layer { name: "pr" type: "PReLU" bottom: "c" top: "c" }
    layer { name: "pool" type: "Pooling" bottom: "c" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
    layer { name: "sc" type: "Scale" bottom: "pool" top: "sc" scale_param { bias_term: true } }
    layer { name: "bi" type: "Bias" bottom: "sc" top: "bi" }
    layer { name: "bn" type: "BatchNorm" bottom: "bi" top: "bn" }
    layer { name: "pr2" type: "PReLU" bottom: "bn" top: "pr2" prelu_param { channel_shared: true } }
    """
    wc, bc, slope = rand(4, 3, 3, 3), rand(4), rand(4)
    gamma, beta, bias, mean, var = rand(4), rand(4), rand(4), rand(4), np.abs(rand(4)) + 0.5
    g, _, _ = model(tmp_path, proto, {"c": [wc, bc], "pr": [slope], "sc": [gamma, beta], "bi": [bias],
                                      "bn": [mean, var, [1.0]], "pr2": [np.float32([0.3])]})
    # nothing to fold into: each stays an op of its own
    assert [o.type for o in g.ops] == ["input_stage", "conv2d", "prelu", "max_pool", "channel_affine",
                                       "channel_affine", "channel_affine", "prelu"]
    np.testing.assert_array_equal(g.op("pr2").params["slope"], np.full(4, 0.3, np.float32))
    px = RNG.integers(0, 256, (1, 8, 8, 3), dtype=np.uint8)
    vals = reference.run(g, px, outputs=["c", "pool", "pr2"])
    c = vals["c"][0].astype(np.float64)
    y = np.where(c > 0, c, c * slope)
    y = y.reshape(3, 2, 3, 2, 4).max(axis=(1, 3))
    np.testing.assert_allclose(vals["pool"][0], y, rtol=1e-5, atol=1e-5)
    y = ((y * gamma + beta + bias) - mean) / np.sqrt(var + 1e-5)
    y = np.where(y > 0, y, 0.3 * y)
    np.testing.assert_allclose(vals["pr2"][0], y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("text, pattern", [
    (lrn_layer("n", "data", "n", 4, 1, 0.75, 1, "across"), "odd local_size"),
    (lrn_layer("n", "data", "n", 3, 1, 0.75, 0, "across"), r"k > 0"),
    ('layer { name: "p" type: "PReLU" bottom: "data" top: "p" }\n', r"no trained blobs for layer 'p'"),
])
def test_bad_new_layers(tmp_path, text, pattern):
    with pytest.raises(NnbuildError, match=pattern):
        model(tmp_path, INPUT_8x8x3 + text, {})


# -- q7: the table index, golden against the C kernels, a whole net ---------------------------------

def test_lrn_table_index_is_monotonic_and_within_1_6_percent():
    s = np.arange(0, 15 * 15 * 16384 + 1)
    idx = table_index(s)
    assert (np.diff(idx) >= 0).all() and (idx[:64] == np.arange(64)).all()
    assert np.max(np.abs(index_value(idx) - s) / np.maximum(s, 1)) < 0.016


def lrn_net(tmp_path):
    proto = INPUT_8x8x3 + conv("c", "data", "c", "num_output: 6 kernel_size: 3 pad: 1") + \
        lrn_layer("within", "c", "within", 3, 1.5, 0.75, 1, "within") + """
    layer { name: "pr" type: "PReLU" bottom: "within" top: "pr" }
    layer { name: "sc" type: "Scale" bottom: "pr" top: "sc" scale_param { bias_term: true } }
    """ + lrn_layer("across", "sc", "across", 5, 0.9, 0.75, 2.0, "across") + """
    layer { name: "ip" type: "InnerProduct" bottom: "across" top: "ip" inner_product_param { num_output: 5 } }
    """
    blobs = {"c": [rand(6, 3, 3, 3) * 0.5, rand(6)], "pr": [np.float32(RNG.uniform(-0.5, 1.5, 6))],
             "sc": [rand(6), rand(6)], "ip": [rand(5, 384) * 0.1, rand(5)]}
    g, _, _ = model(tmp_path, proto, blobs, scale=1 / 64)
    return g


def test_net_with_the_new_layers_quantizes_and_generated_c_matches_golden(tmp_path):
    from nnbuild.hostrun import HostModel

    g = lrn_net(tmp_path)
    assert [o.type for o in g.ops] == ["input_stage", "conv2d", "lrn", "prelu", "channel_affine", "lrn",
                                       "fully_connected"]
    calib = RNG.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    rep = {}
    q = quantize(g, calib, report=rep)
    test = RNG.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    want = golden.run(q, test)
    # the q7 net follows the float one
    err = golden.dequantize(q, q.outputs[0], want) - reference.run(g, test)
    assert np.sqrt(np.mean(err ** 2)) < 0.1 * np.sqrt(np.mean(reference.run(g, test) ** 2))
    for dsp in (False, True):
        got = HostModel(q, "newlayers", tmp_path / f"host{dsp}", dsp=dsp).run(test)
        np.testing.assert_array_equal(got.reshape(want.shape), want)


@pytest.mark.parametrize("seed", range(6))
def test_new_layer_golden_equals_c_on_random_shapes(tmp_path, seed):
    """Each new op alone, random shape and parameters: the generated C equals the golden op."""
    from nnbuild.hostrun import HostModel

    rng = np.random.default_rng(seed)
    h, w, c = (int(v) for v in rng.integers(1, 9, 3))
    n = int(rng.choice([1, 3, 5, 7]))
    region = ["across", "within"][seed % 2]
    proto = (f'name: "t"\nlayer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: 1 '
             f'dim: {c} dim: {h} dim: {w} }} }} }}\n') + lrn_layer("l", "data", "l", n, float(rng.uniform(0.01, 5)),
                                                                 float(rng.uniform(0.2, 1.5)), float(rng.uniform(0.5, 3)), region) + \
        'layer { name: "p" type: "PReLU" bottom: "l" top: "p" }\n' + \
        'layer { name: "s" type: "Scale" bottom: "p" top: "s" scale_param { bias_term: true } }\n'
    blobs = {"p": [np.float32(rng.uniform(-2, 2, c))], "s": [np.float32(rng.uniform(-3, 3, c)),
                                                             np.float32(rng.uniform(-1, 1, c))]}
    g, _, _ = model(tmp_path, proto, blobs, scale=float(rng.uniform(0.005, 0.1)), input_shape=(h, w, c))
    q = quantize(g, rng.integers(0, 256, (20, h, w, c), dtype=np.uint8))
    x = rng.integers(0, 256, (10, h, w, c), dtype=np.uint8)
    want = golden.run(q, x)
    got = HostModel(q, "rnd", tmp_path / "host").run(x)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_trained_lrn_digits_net_q7_accuracy_and_host_bit_exact(root, tmp_path):
    """The real trained net with LRN (both regions), PReLU and Scale (models/lrn_digits, trained by
    tools/train_lrn_model.py): float 978/1000, q7 977/1000 when measured; the generated C equals
    the golden model on every test digit."""
    from nnbuild import pipeline
    from nnbuild.hostrun import HostModel
    from nnbuild.manifest import load_manifest

    entry = load_manifest(root / "manifests" / "lrn_digits.yaml").model("lrn_digits")
    g = pipeline.import_model(entry)
    assert {"lrn", "prelu", "channel_affine"} <= {o.type for o in g.ops}
    q, _ = pipeline.quantize_graph(entry, g)
    z = np.load(root / "models" / "sample" / "test.npz")
    images, labels = z["images"].reshape(-1, 28, 28, 1), z["labels"]
    want = golden.run(q, images).reshape(len(images), -1)
    assert (reference.run(g, images).reshape(len(images), -1).argmax(1) == labels).sum() >= 975
    assert (want.argmax(1) == labels).sum() >= 970
    got = HostModel(q, "lrn_digits", tmp_path).run(images)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
