"""The project's own sample model: nnbuild's Caffe writer (format, determinism, round trip through
the Caffe importer), the numpy trainer's gradients, and the committed models/sample files
(accuracy on the held-out digits, size limits, manifest entry)."""
import re
import sys

import h5py
import numpy as np
import pytest

from gradcheck import assert_grads_match_finite_differences
from nnbuild import reference
from nnbuild import passes
from nnbuild.errors import NnbuildError
from nnbuild.frontends.caffe import writer as cw
from nnbuild.frontends.caffe import load_caffe
from nnbuild.manifest import load_manifest


@pytest.fixture(scope="module")
def trainer(root):
    sys.path.insert(0, str(root / "tools"))
    import train_sample_model
    return train_sample_model


def small_net(rng):
    return [
        cw.conv("conv1", "data", "conv1", rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), pad=1, stride=2),
        cw.relu("relu1", "conv1"),
        cw.pool("pool1", "conv1", "pool1", 3, 2),
        cw.inner_product("ip1", "pool1", "ip1", rng.standard_normal((5, 4 * 2 * 2)), rng.standard_normal(5)),
        cw.softmax("prob", "ip1", "prob"),
    ]


def test_prototxt_text_is_caffe_text_format():
    text = cw.prototxt_text("tiny", "data", (1, 3, 7, 7), small_net(np.random.default_rng(0)))
    assert text.startswith('name: "tiny"\nlayer {\n  name: "data"\n  type: "Input"\n  top: "data"\n'
                           '  input_param {\n    shape {\n      dim: 1\n      dim: 3\n      dim: 7\n      dim: 7\n')
    assert ('  convolution_param {\n    num_output: 4\n    kernel_size: 3\n    pad: 1\n    stride: 2\n  }\n'
            in text)
    assert "    pool: MAX\n    kernel_size: 3\n    stride: 2\n" in text     # enum unquoted
    assert '  name: "relu1"\n  type: "ReLU"\n  bottom: "conv1"\n  top: "conv1"\n' in text
    assert re.findall(r'type: "(\w+)"', text) == ["Input", "Convolution", "ReLU", "Pooling", "InnerProduct", "Softmax"]


def test_h5_layout_and_determinism(tmp_path):
    layers = small_net(np.random.default_rng(1))
    a, b = tmp_path / "a", tmp_path / "b"
    cw.write_caffe("tiny", "data", (1, 3, 7, 7), layers, a / "n.prototxt", a / "n.caffemodel.h5")
    cw.write_caffe("tiny", "data", (1, 3, 7, 7), layers, b / "n.prototxt", b / "n.caffemodel.h5")
    assert (a / "n.caffemodel.h5").read_bytes() == (b / "n.caffemodel.h5").read_bytes()
    assert (a / "n.prototxt").read_bytes() == (b / "n.prototxt").read_bytes()
    with h5py.File(a / "n.caffemodel.h5", "r") as f:
        assert sorted(f) == ["data"]
        assert sorted(f["data"]) == ["conv1", "ip1", "pool1", "prob", "relu1"]
        assert f["data/conv1/0"].shape == (4, 3, 3, 3) and f["data/conv1/0"].dtype == np.float32
        np.testing.assert_array_equal(f["data/ip1/0"][()], layers[3].blobs[0])
        assert len(f["data/pool1"]) == 0
    with pytest.raises(NnbuildError, match="duplicate layer names"):
        cw.write_caffe("x", "data", (1, 3, 7, 7), layers + [cw.relu("relu1", "ip1")], a / "x.prototxt", a / "x.h5")


def test_written_net_imports_and_matches_numpy_forward(tmp_path, trainer):
    """The importer reads what the writer wrote: its float output equals the trainer's forward."""
    rng = np.random.default_rng(2)
    p = trainer.init_params(rng)
    p = {k: v + 0.1 * rng.standard_normal(v.shape).astype(np.float32) for k, v in p.items()}
    cw.write_caffe("t", "data", (1, 1, 28, 28), trainer.caffe_layers(p), tmp_path / "t.prototxt", tmp_path / "t.h5")
    g = load_caffe(tmp_path / "t.prototxt", tmp_path / "t.h5", input_shape=(28, 28, 1), mean=[0],
                   scale=trainer.SCALE)
    assert [o.type for o in g.ops] == ["input_stage", "conv2d", "max_pool", "relu", "conv2d", "relu",
                                       "max_pool", "fully_connected", "softmax"]
    g = passes.run(g)    # as the pipeline imports it: ReLUs moved before the max pools and fused
    assert [o.name for o in g.ops] == ["input_stage", "conv1+relu1", "pool1", "conv2+relu2", "pool2", "ip1"]
    assert g.meta["output_softmax"] is True
    x = rng.integers(0, 256, (8, 28, 28), dtype=np.uint8)
    got = reference.run(g, x[..., None]).reshape(8, 10)
    np.testing.assert_allclose(got, trainer.forward(p, trainer.to_input(x)), rtol=1e-4, atol=1e-4)


def test_trainer_gradients_match_finite_differences(trainer):
    rng = np.random.default_rng(0)
    p = {k: v.astype(np.float64) + 0.1 * rng.standard_normal(v.shape) for k, v in trainer.init_params(rng).items()}
    x, y = rng.random((3, 1, 28, 28)), np.array([1, 2, 3])
    assert_grads_match_finite_differences(trainer.grads, p, x, y, rng)


def test_shift_augmentation_moves_pixels(trainer):
    img = np.zeros((1, 5, 5), np.uint8)
    img[0, 2, 2] = 9

    class FixedRng:
        def integers(self, lo, hi, size):
            return np.array([[1, -2]])

    out = trainer.shift_images(img, FixedRng())
    assert out[0, 3, 0] == 9 and out.sum() == 9


# -- the committed sample model ------------------------------------------------------------------

def test_committed_sample_model_accuracy(root, trainer):
    """Float top-1 on the 1,000 held-out digits, through the Caffe importer + float reference."""
    d = root / "models" / "sample"
    g = load_caffe(d / "sample.prototxt", d / "sample.caffemodel.h5", input_shape=(28, 28, 1),
                   mean=[0], scale=trainer.SCALE)
    with np.load(d / "test.npz") as z:
        images, labels = z["images"], z["labels"]
    assert images.shape == (1000, 28, 28, 1) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [100] * 10
    pred = reference.run(g, images).reshape(len(images), -1).argmax(1)
    assert (pred == labels).mean() >= 0.97        # 0.975 when trained (tools/train_sample_model.py)


def test_committed_sample_files_are_small_and_disjoint(root):
    d = root / "models" / "sample"
    with h5py.File(d / "sample.caffemodel.h5", "r") as f:
        n_weights = sum(f["data"][layer][blob].size for layer in f["data"] for blob in f["data"][layer])
    assert n_weights == 8 * 25 + 8 + 16 * 72 + 16 + 10 * 576 + 10      # ~7.1k: q7 weights < 20 KiB
    assert (d / "test.npz").stat().st_size < 1 << 20
    with np.load(d / "test.npz") as t, np.load(d / "calib.npz") as c:
        assert c["images"].shape == (300, 28, 28, 1)
        test_set = {img.tobytes() for img in t["images"]}
        assert not any(img.tobytes() in test_set for img in c["images"])  # never calibrate on test


def test_default_manifest_declares_the_sample(root):
    m = load_manifest(root / "models.yaml")
    entry = m.model("sample_digits")
    entry.check_files()
    assert entry.input.shape == (28, 28, 1) and entry.input.channel_order == "GRAY"
    assert entry.labels == tuple(str(i) for i in range(10))
    assert [x.name for x in m.models] == ["sample_digits"]
    assert m.budget("m0")["ram"] == 16 * 1024
