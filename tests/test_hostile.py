"""Hostile and malformed input files: every one ends in one NnbuildError naming the file, after
bounded work (declared sizes are checked before anything is allocated for them). Each file is
made by the test; the large ones only *declare* large sizes."""
import shutil
import struct
import time
import zipfile

import h5py
import numpy as np
import pytest
from conftest import ROOT

from nnbuild.errors import NnbuildError
from nnbuild.frontends.caffe import proto as caffe_proto
from nnbuild.frontends.caffe import load_caffe, load_mean
from nnbuild.frontends.caffe.weights import load_weights

SAMPLE = ROOT / "models" / "sample"
SAMPLE_SHAPE = (28, 28, 1)


def sample(tmp_path):
    proto, h5 = tmp_path / "s.prototxt", tmp_path / "s.caffemodel.h5"
    shutil.copy(SAMPLE / "sample.prototxt", proto)
    shutil.copy(SAMPLE / "sample.caffemodel.h5", h5)
    return proto, h5


def blob_file(path, dims, values, legacy=False):
    blob = caffe_proto.BlobProto()
    if legacy:
        blob.num, blob.channels, blob.height, blob.width = dims
    else:
        blob.shape.dim.extend(dims)
    blob.data.extend(values)
    path.write_bytes(blob.SerializeToString())
    return path


# -- binary protobuf: caffemodel and mean.binaryproto -------------------------------------------

@pytest.mark.parametrize("dims, values, legacy, pattern", [
    ([-1, -1], [1.0], False, r"negative dimensions \[-1, -1\]"),
    ([1, -3, 2, 2], [], False, r"negative dimensions"),
    ([2 ** 32, 2 ** 32], [], False, r"= 18446744073709551616 values \(expected at most 16777216"),  # int64: 0
    ([1, 2 ** 32, 2 ** 32, 1], [], True, r"= 18446744073709551616 values"),                          # legacy dims
    ([2 ** 31 - 1, 2 ** 31 - 1, 4], [], False, r"values \(expected at most"),
    ([1, 1, 28, 28], [0.5] * 10, False, r"blob has 10 values but its shape \[1, 1, 28, 28\] needs 784"),
    ([0, 2 ** 63 - 1], [], False, r"= 0 values \(expected at most"),       # empty, yet numpy cannot shape it
])
def test_mean_binaryproto_declared_sizes(tmp_path, dims, values, legacy, pattern):
    from nnbuild.frontends.caffe.weights import blob_array

    path = blob_file(tmp_path / "mean.binaryproto", dims, values, legacy)
    with pytest.raises(NnbuildError, match=pattern) as e:
        blob_array(caffe_proto.parse_binary(path, caffe_proto.BlobProto, "mean"), path, "mean blob")
    assert str(e.value).startswith(f"{path}, mean blob: ")
    with pytest.raises(NnbuildError) as e:   # load_mean: the same, or the shape check before it
        load_mean(path, (28, 28, 1))
    assert str(e.value).startswith(str(path))


def caffemodel(path, layers):
    net = caffe_proto.NetParameter(name="t")
    for name, blobs in layers.items():
        lp = net.layer.add(name=name)
        for dims, values in blobs:
            b = lp.blobs.add()
            b.shape.dim.extend(dims)
            b.data.extend(values)
    path.write_bytes(net.SerializeToString())
    return path


@pytest.mark.parametrize("dims, values, pattern", [
    ([-2, -4], [0.0] * 8, r"layer 'x', blob 0: blob declares negative dimensions \[-2, -4\]"),
    ([2 ** 62, 4], [], r"layer 'x', blob 0: blob declares shape .* values"),
    ([3, 3], [1.0] * 4, r"blob has 4 values but its shape \[3, 3\] needs 9"),
])
def test_caffemodel_blob_headers(tmp_path, dims, values, pattern):
    path = caffemodel(tmp_path / "w.caffemodel", {"x": [(dims, values)]})
    with pytest.raises(NnbuildError, match=pattern) as e:
        load_weights(path)
    assert str(e.value).startswith(str(path))


def test_caffemodel_values_are_read_on_use(tmp_path):
    path = caffemodel(tmp_path / "w.caffemodel", {"a": [([2, 3], list(range(6)))], "b": [([1], [7.0])]})
    blobs = load_weights(path)
    assert blobs["a"][0].shape == (2, 3) and blobs["a"][0]._array is None
    np.testing.assert_array_equal(np.asarray(blobs["a"][0]), np.arange(6, dtype=np.float32).reshape(2, 3))
    assert blobs["a"][0].dtype == np.float32 and blobs["b"][0]._array is None


def test_prototxt_nested_thousands_deep(tmp_path):
    for block in ("param { ", "unknown_field { ", "convolution_param < "):
        path = tmp_path / "deep.prototxt"
        close = "} " if "{" in block else "> "
        path.write_text('name: "n"\nlayer { name: "a"\n' + block * 5000 + close * 5000 + "}\n")
        with pytest.raises(NnbuildError, match=r"deep\.prototxt, line 3: blocks nested more than 64 deep"):
            caffe_proto.parse_prototxt(path)
    # braces in strings and comments do not count
    ok = tmp_path / "ok.prototxt"
    ok.write_text('name: "' + "{" * 100 + '"\n# ' + "{" * 100 + "\nlayer { name: 'a' type: 'ReLU' }\n")
    assert caffe_proto.parse_prototxt(ok).name == "{" * 100


# -- prototxt input sizes -----------------------------------------------------------------------

def test_absurd_input_shape_is_refused_before_allocating(tmp_path):
    proto, h5 = sample(tmp_path)
    text = (SAMPLE / "sample.prototxt").read_text().replace("dim: 1\n      dim: 1\n", "dim: 1\n      dim: 1000000000\n", 1)
    assert "1000000000" in text
    text = text.replace('top: "data"\n', 'top: "data"\n  transform_param { mean_value: 3 }\n', 1)
    proto.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(NnbuildError, match=r"input shape \[28, 28, 1000000000\] \(H, W, C\) has 784000000000 values "
                                           r"\(expected at most 16777216 values"):
        load_caffe(proto, h5)
    shutil.copy(SAMPLE / "sample.prototxt", proto)
    with pytest.raises(NnbuildError, match=r"input\.shape: input shape \[100000, 100000, 3\]"):
        load_caffe(proto, h5, input_shape=(100000, 100000, 3))
    with pytest.raises(NnbuildError, match=r"input\.shape: input shape \[1, 1, 1000000000\]"):
        load_mean([1.0], (1, 1, 10 ** 9))
    assert time.perf_counter() - t0 < 5


# -- HDF5 weights -------------------------------------------------------------------------------

def test_h5_unused_huge_dataset_is_never_read(tmp_path):
    proto, h5 = sample(tmp_path)
    with h5py.File(h5, "a") as f:
        # 10^10 float32 zeros, gzip: a few KB on disk, 37 GiB in memory (allocated lazily by HDF5)
        f["data"].create_group("unused").create_dataset(
            "0", shape=(10 ** 10,), dtype="f4", chunks=(2 ** 20,), compression="gzip", fillvalue=0)
    assert h5.stat().st_size < 1_000_000
    t0 = time.perf_counter()
    g = load_caffe(proto, h5, input_shape=SAMPLE_SHAPE)
    assert time.perf_counter() - t0 < 10 and g.ops


def test_h5_used_dataset_shape_checked_before_reading(tmp_path):
    proto, h5 = sample(tmp_path)
    with h5py.File(h5, "a") as f:
        del f["data/conv1/0"]
        f["data/conv1"].create_dataset("0", shape=(10 ** 5, 10 ** 5), dtype="f4", chunks=(1000, 1000),
                                       compression="gzip", fillvalue=0)
    t0 = time.perf_counter()
    with pytest.raises(NnbuildError, match=r"layer 'conv1'.*blob 0 has shape \[100000, 100000\]"):
        load_caffe(proto, h5, input_shape=SAMPLE_SHAPE)
    assert time.perf_counter() - t0 < 10
    blobs = load_weights(h5)
    with pytest.raises(NnbuildError, match=r"data/conv1/0: blob declares shape \[100000, 100000\]"):
        np.asarray(blobs["conv1"][0])


@pytest.mark.parametrize("damage", ["truncate", "superblock", "garbage_middle", "text_dataset",
                                    "external_link", "dataset_group"])
def test_h5_corrupt_files_name_the_file(tmp_path, damage):
    proto, h5 = sample(tmp_path)
    data = bytearray(h5.read_bytes())
    if damage == "truncate":
        h5.write_bytes(bytes(data[:3000]))
    elif damage == "superblock":
        data[8:40] = b"\xff" * 32
        h5.write_bytes(bytes(data))
    elif damage == "garbage_middle":
        data[600:5000] = bytes(range(256)) * 17 + bytes(4400 - 256 * 17)
        h5.write_bytes(bytes(data))
    else:
        with h5py.File(h5, "a") as f:
            del f["data/conv1/0"]
            if damage == "text_dataset":
                f["data/conv1"].create_dataset("0", data=np.array([b"abc", b"def"]))
            elif damage == "external_link":
                f["data/conv1"]["0"] = h5py.ExternalLink("/etc/passwd", "/x")
            else:
                f["data/conv1"].create_group("0")
    with pytest.raises(NnbuildError) as e:
        load_caffe(proto, h5, input_shape=SAMPLE_SHAPE)
    assert str(e.value).startswith(str(h5)), str(e.value)


# -- the generated C comment --------------------------------------------------------------------

def test_layer_named_with_comment_markers_keeps_the_c_valid(tmp_path):
    """A layer called `conv1/*x*/ */` goes through import, quantize and codegen; the C compiles."""
    import subprocess

    from nnbuild import passes
    from nnbuild.pipeline import generate_model
    from nnbuild.quantize import quantize

    evil = "conv1/*x*/ */ /*"
    proto, h5 = sample(tmp_path)
    proto.write_text((SAMPLE / "sample.prototxt").read_text().replace('"conv1"', f'"{evil}"'))
    weights = {}
    with h5py.File(h5, "r") as f:   # as a binary caffemodel: HDF5 names cannot hold '/'
        for name, group in f["data"].items():
            weights[evil if name == "conv1" else name] = [(d.shape, d[()].ravel().tolist())
                                                          for _, d in sorted(group.items())]
    g = load_caffe(proto, caffemodel(tmp_path / "evil.caffemodel", weights), input_shape=SAMPLE_SHAPE)
    assert any(op.name == evil for op in g.ops)
    pixels = np.load(SAMPLE / "calib.npz")["images"][:20]
    _, _, files = generate_model(quantize(passes.run(g), pixels), tmp_path / "c", "evil")
    source = [f for f in files if str(f).endswith(".c")][0]
    text = open(source).read()
    assert "conv1/_*x*_/ *_/ /_*" in text
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc:
        inc = [f"-I{ROOT / 'firmware_template' / d}" for d in ("kernels", "app")]
        run = subprocess.run([cc, "-fsyntax-only", "-std=c99", "-Werror=comment", *inc, str(source)],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


# -- .npz data sets -----------------------------------------------------------------------------

def npy_header(descr, shape, fortran=False):
    d = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode()
    pad = 64 - (10 + len(d) + 1) % 64
    d += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d


def npz(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def load(path):
    from nnbuild import calibration

    return calibration.load_images(path, (4, 5, 3))


def test_npz_declaring_279_gb_is_refused_from_its_header(tmp_path):
    path = npz(tmp_path / "bomb.npz", {"images.npy": npy_header("|u1", (300_000, 1000, 310, 3))})
    assert path.stat().st_size < 400
    with pytest.raises(NnbuildError, match=r"bomb\.npz, images: 'images' declares shape \(300000, 1000, 310, 3\) "
                                           r"of uint8 = 279000000000 bytes \(expected at most 1073741824"):
        load(path)
    with pytest.raises(NnbuildError, match=r"bomb\.npz, images: 'images' declares shape"):
        from nnbuild.imageio import read_image
        read_image(f"{path}:0")


@pytest.mark.parametrize("members, compression, pattern", [
    ({"images.npy": npy_header("|u1", (2, 4, 5, 3)) + bytes(10)}, zipfile.ZIP_STORED,
     r"images: 'images' declares shape \(2, 4, 5, 3\) of uint8 \(120 bytes\) but the member holds 10"),
    ({"images.npy": npy_header("|u1", (1, 4, 5, 3)) + bytes(60)}, zipfile.ZIP_LZMA,
     r"images: zip compression method 14 is not supported"),
    ({}, zipfile.ZIP_STORED, r"the \.npz holds no arrays"),
    ({"labels.npy": npy_header("<i8", (1,)) + bytes(8)}, zipfile.ZIP_STORED, r"no 'images' array \(found: labels\)"),
    ({"images.npy": npy_header("|O", (1,)) + bytes(8)}, zipfile.ZIP_STORED,
     r"'images' has dtype object \(expected uint8 \(object, text and structured arrays are refused\)"),
    ({"images.npy": npy_header("<U5", (1, 4, 5, 3)) + bytes(1200)}, zipfile.ZIP_STORED, r"'images' has dtype <U5"),
    ({"images.npy": npy_header("<f4", (1, 4, 5, 3)) + bytes(240)}, zipfile.ZIP_DEFLATED, r"'images' has dtype float32"),
    ({"images.npy": npy_header("|u1", (-1, 4, 5, 3))}, zipfile.ZIP_STORED, r"declares shape \(-1, 4, 5, 3\)"),
    ({"images.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': (((("}, zipfile.ZIP_STORED, r"cannot read \.npz"),
    ({"images.npy": b"\x93NUMPY\x03\x00" + bytes(20)}, zipfile.ZIP_STORED, r"format version \(3, 0\)"),
    ({"images.npy": b"not numpy at all"}, zipfile.ZIP_STORED, r"cannot read \.npz"),
])
def test_malformed_npz_members(tmp_path, members, compression, pattern):
    path = npz(tmp_path / "d.npz", members, compression)
    with pytest.raises(NnbuildError, match=pattern) as e:
        load(path)
    assert str(e.value).startswith(str(path))


def test_corrupt_npz_files(tmp_path):
    images = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    np.savez(tmp_path / "good.npz", images=images)
    data = (tmp_path / "good.npz").read_bytes()
    at = data.index(b"NUMPY") + 128 + 5     # a pixel byte inside the stored member
    for name, damaged in (("crc.npz", data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]),
                          ("cut.npz", data[: len(data) // 2]), ("junk.npz", b"PK\x03\x04" + bytes(100)),
                          ("empty.npz", b"")):
        (tmp_path / name).write_bytes(damaged)
        with pytest.raises(NnbuildError, match=r"cannot read \.npz") as e:
            load(tmp_path / name)
        assert str(e.value).startswith(str(tmp_path / name))
    np.savez_compressed(tmp_path / "f.npz", images=np.asfortranarray(images), labels=np.array([1, 2]))
    np.testing.assert_array_equal(load(tmp_path / "f.npz"), images)
    np.testing.assert_array_equal(load(tmp_path / "good.npz"), images)


def test_binary_prototxt_names_the_line(tmp_path):
    path = tmp_path / "bin.prototxt"
    path.write_bytes(b'name: "n"\nlayer {\n  name: "\xbb"\n}\n')
    with pytest.raises(NnbuildError, match=r"bin\.prototxt, line 3: Caffe prototxt is not UTF-8 text \(byte 0xbb\)"):
        caffe_proto.parse_prototxt(path)


def test_devices_are_refused_unread(tmp_path):
    """/dev/zero never ends: every reader refuses it before reading (a FIFO would block)."""
    from nnbuild.imageio import read_image

    for call, what in ((lambda p: load_weights(p), "caffemodel"), (lambda p: caffe_proto.parse_prototxt(p), "prototxt"),
                       (lambda p: load_mean(p, SAMPLE_SHAPE), "mean.binaryproto"), (read_image, "image")):
        with pytest.raises(NnbuildError, match=r"^/dev/zero: .*is not a regular file") as e:
            call("/dev/zero")
        assert what in str(e.value)


def test_h5_layer_names_with_a_slash(tmp_path):
    """Caffe stores layer 'conv1/dw' as group conv1, subgroup dw (MobileNet names its layers so)."""
    proto, h5 = sample(tmp_path)
    proto.write_text((SAMPLE / "sample.prototxt").read_text().replace('name: "conv2"', 'name: "conv1/dw"'))
    with h5py.File(h5, "a") as f:
        f.move("data/conv2", "data/conv1/dw")
    assert "conv1/dw" in load_weights(h5) and len(load_weights(h5)["conv1"]) == 2
    g = load_caffe(proto, h5, input_shape=SAMPLE_SHAPE)
    assert any(op.name.startswith("conv1/dw") for op in g.ops)
    with h5py.File(h5, "a") as f:
        grp = f["data/conv1/dw"]
        for _ in range(10):
            grp = grp.create_group("x")
    with pytest.raises(NnbuildError, match=r"data/conv1/dw/x/x/x/x/x/x/: groups nested more than 8 deep"):
        load_weights(h5)
