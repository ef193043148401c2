#!/usr/bin/env python3
"""Fuzz every parser of user files: prototxt, binary caffemodel, HDF5 weights, mean.binaryproto,
manifest, images (PNG/PPM/PGM/JPEG), .npz data sets, .tflite and .onnx models.

Inputs are generated with hypothesis: mutations of valid files made here (the sample model, small
images and data sets), structurally generated files (blobs, PNG headers, .npy headers with
arbitrary dims and dtypes) and random bytes behind each format's magic. Each input runs in a
worker subprocess under an address-space limit (RLIMIT_AS) and a time limit; the only acceptable
outcomes are success or NnbuildError. A worker that dies, overruns or raises anything else is a
failure (hypothesis then shrinks the input).

    .venv/bin/python tools/fuzz_parsers.py --examples 2000 --seconds 300 [--targets image npz ...] [--out DIR]

prints one JSON line: per target the examples run, outcomes, slowest input, worker peak memory,
and the failures (the shrunk input is saved in --out). tests/test_fuzz.py runs the same targets
briefly (derandomized). The worker side is `--worker` (one JSON request per stdin line).
"""
import argparse
import io
import json
import os
import resource
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "models" / "sample"
sys.path.insert(0, str(ROOT / "site_scons"))

MEMORY_LIMIT = 1 << 30      # bytes of address space per worker
TIME_LIMIT = 20.0           # seconds per input (generous: CI machines are shared)
SAMPLE_SHAPE = (28, 28, 1)


# -- worker side: run one parser on one file --------------------------------------------------------

def _materialize(blobs):
    import numpy as np

    for arrays in blobs.values():
        for b in arrays:
            np.asarray(b)


def _weights(path):
    """Every blob read (bounded per blob), then the real import of the sample net."""
    from nnbuild.frontends.caffe import load_caffe
    from nnbuild.frontends.caffe.weights import load_weights

    _materialize(load_weights(path))
    load_caffe(SAMPLE / "sample.prototxt", path, input_shape=SAMPLE_SHAPE)


def _prototxt(path):
    from nnbuild.frontends.caffe import load_caffe

    load_caffe(path, SAMPLE / "sample.caffemodel.h5")


def _mean(path):
    from nnbuild.frontends.caffe import proto as caffe_proto
    from nnbuild.frontends.caffe import load_mean
    from nnbuild.frontends.caffe.weights import blob_array

    blob_array(caffe_proto.parse_binary(path, caffe_proto.BlobProto, "mean.binaryproto"), path, "mean blob")
    load_mean(path, SAMPLE_SHAPE)


def _manifest(path):
    from nnbuild.manifest import load_manifest

    load_manifest(path)


def _image(path):
    from nnbuild.imageio import read_image

    read_image(path)


def _npz(path):
    from nnbuild import calibration, npzfile

    calibration.load_images(path, SAMPLE_SHAPE)
    npzfile.read_array(path, "labels")


def _tflite(path):
    from nnbuild.frontends.tflite import load_tflite

    load_tflite(path)


def _onnx(path):
    from nnbuild.frontends.onnx import load_onnx

    load_onnx(path)


def _selftest(path):
    """What the harness must catch (tests/test_fuzz.py): chosen by the file's content."""
    what = Path(path).read_text()
    if what == "crash":
        raise ValueError("not an NnbuildError")
    if what == "memory":
        return bytearray(2 * MEMORY_LIMIT)
    if what == "hang":
        time.sleep(3600)
    if what == "exit":
        os._exit(3)


WORKER_TARGETS = {"prototxt": _prototxt, "caffemodel": _weights, "h5": _weights, "mean": _mean,
                  "manifest": _manifest, "image": _image, "npz": _npz, "tflite": _tflite, "onnx": _onnx,
                  "selftest": _selftest}


def worker_main():
    """Serve requests {"target", "path"} from stdin; answer {"outcome", "detail", "seconds", "rss"}."""
    from nnbuild.errors import NnbuildError

    for line in sys.stdin:
        req = json.loads(line)
        t0 = time.perf_counter()
        try:
            WORKER_TARGETS[req["target"]](req["path"])
            outcome, detail = "ok", ""
        except NnbuildError as e:
            text = str(e)
            outcome, detail = ("error", text) if "\n" not in text.strip() else ("multiline", text)
        except BaseException as e:  # noqa: BLE001 -- anything else is what we are looking for
            outcome, detail = "crash", "".join(traceback.format_exception(e))[-3000:]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        sys.stdout.write(json.dumps({"outcome": outcome, "detail": detail[:2000], "rss": rss,
                                     "seconds": time.perf_counter() - t0}) + "\n")
        sys.stdout.flush()


# -- parent side: a worker subprocess under limits ---------------------------------------------------

def _limit_memory(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


class Worker:
    """One long-lived worker process (imports are paid once), replaced whenever it dies or
    overruns; every input is written to a file and answered within `timeout` seconds."""

    def __init__(self, memory=MEMORY_LIMIT, timeout=TIME_LIMIT):
        self.memory, self.timeout = memory, timeout
        self.dir = tempfile.mkdtemp(prefix="nnbuild-fuzz-")
        self.proc = None

    def _start(self):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2",
                   PYTHONPATH=str(ROOT / "site_scons"))
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, preexec_fn=_limit_memory(self.memory), text=True)

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close(), self.proc.stdin.close(), self.proc.stderr.close()
            self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, target, data, name):
        """-> {"outcome": ok|error|crash|multiline|died|timeout, "detail", "seconds", "rss"}."""
        sub = os.path.join(self.dir, target)
        os.makedirs(sub, exist_ok=True)
        path = os.path.join(sub, name)
        with open(path, "wb") as f:
            f.write(data)
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        t0 = time.perf_counter()
        try:
            self.proc.stdin.write(json.dumps({"target": target, "path": path}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._died(t0)
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            self.stop()
            return {"outcome": "timeout", "detail": f"no answer within {self.timeout} s",
                    "seconds": time.perf_counter() - t0, "rss": 0}
        line = self.proc.stdout.readline()
        if not line:
            return self._died(t0)
        return json.loads(line)

    def _died(self, t0):
        self.proc.wait()
        err = self.proc.stderr.read()[-2000:]
        code = self.proc.returncode
        self.stop()
        return {"outcome": "died", "detail": f"worker exit code {code}: {err}",
                "seconds": time.perf_counter() - t0, "rss": 0}


# -- inputs: seeds made here, mutations and structured generators -----------------------------------

def _png(w, h, depth, ctype, raw, extra=b"", interlace=0):
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def _sample_weights():
    import h5py

    with h5py.File(SAMPLE / "sample.caffemodel.h5", "r") as f:
        return {name: [d[()] for _, d in sorted(g.items())] for name, g in f["data"].items()}


def _caffemodel(weights, legacy=False):
    from nnbuild.frontends.caffe import proto as caffe_proto

    net = caffe_proto.NetParameter(name="sample")
    for name, arrays in weights.items():
        lp = net.layers.add(name=name) if legacy else net.layer.add(name=name)
        for a in arrays:
            b = lp.blobs.add()
            if legacy:
                b.num, b.channels, b.height, b.width = (1,) * (4 - a.ndim) + a.shape
            else:
                b.shape.dim.extend(a.shape)
            b.data.extend(a.ravel().tolist())
    return net.SerializeToString()


def _tflite_seeds():
    """An int8 .tflite of nnbuild's writer (input stage + SAME conv + fully connected, weights
    by hand) and the float model of the same structure (the writer's tables with FLOAT32 tensors)."""
    import numpy as np

    from nnbuild import ir
    from nnbuild.exporters import tflite

    rng = np.random.default_rng(1)
    g = ir.Graph("fuzz", "px", ["y"], meta={"quantization": {"scheme": "int8"}})
    g.tensors["px"] = ir.Tensor("px", (6, 6, 2), "uint8")
    g.tensors["x"] = ir.Tensor("x", (6, 6, 2), "int8", {"scale": 0.05, "zero_point": 3})
    g.tensors["c"] = ir.Tensor("c", (6, 6, 4), "int8", {"scale": 0.1, "zero_point": -5})
    g.tensors["y"] = ir.Tensor("y", (1, 1, 3), "int8", {"scale": 0.2, "zero_point": 1})
    ws, fs = rng.uniform(0.005, 0.02, 4).astype(np.float32), rng.uniform(0.005, 0.02, 3).astype(np.float32)
    cm, cs = tflite.conv_multipliers(0.05, ws, 0.1, 4)
    fm, fsh = tflite.conv_multipliers(0.1, fs, 0.2, 3)
    mac = dict(in_zp=3, out_zp=-5, act_min=-128, act_max=127, per_channel=True)
    g.ops = [ir.Op("in", "input_stage", ["px"], ["x"], {"scale": 1.0, "mul": 1, "shift": 1}, {"off": np.zeros(2, np.int32)}),
             ir.Op("c", "conv2d", ["x"], ["c"], dict(kernel=3, stride=1, pad=1, dilation=1, group=1, **mac),
                   dict(weight=rng.integers(-127, 128, (4, 3, 3, 2)).astype(np.int8), bias=np.arange(4, dtype=np.int32),
                        weight_scale=ws, out_mult=np.array(cm, np.int32), out_shift=np.array(cs, np.int32))),
             ir.Op("y", "fully_connected", ["c"], ["y"], dict(mac, in_zp=-5, out_zp=1),
                   dict(weight=rng.integers(-127, 128, (3, 144)).astype(np.int8), bias=np.arange(3, dtype=np.int32),
                        weight_scale=fs, out_mult=np.array(fm, np.int32), out_shift=np.array(fsh, np.int32)))]
    m = tflite.build_model(g.validate())
    int8 = tflite.serialize(m)
    for t in m.tensors:             # the same model in float: FLOAT32 tensors, float data
        if t["type"] in (tflite.S.TensorType.INT8, tflite.S.TensorType.INT32):
            if t["buffer"]:
                n = len(m.buffers[t["buffer"]]) // (1 if t["type"] == tflite.S.TensorType.INT8 else 4)
                m.buffers[t["buffer"]] = np.full(n, 0.01, np.float32).tobytes()
            t["type"], t["quant"] = tflite.S.TensorType.FLOAT32, None
    return [int8, tflite.serialize(m)]


def _onnx_seeds():
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, a).astype(np.float32), n)
             for n, a in (("w", (4, 2, 3, 3)), ("b", (4,)), ("g", (3, 16)), ("gb", (3,)))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "g", "gb"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    return [helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()]


def seeds(target):
    """Valid files of each format, made here from the sample model and small arrays."""
    import numpy as np

    from nnbuild.frontends.caffe import proto as caffe_proto
    from nnbuild.imageio import png_bytes

    rng = np.random.default_rng(0)
    if target == "prototxt":
        text = (SAMPLE / "sample.prototxt").read_text()
        return [text.encode(), text.replace('top: "data"\n', 'top: "data"\n  transform_param { mean_value: 3 '
                                                               'scale: 0.5 }\n', 1).encode()]
    if target == "caffemodel":
        w = _sample_weights()
        return [_caffemodel(w), _caffemodel(w, legacy=True)]
    if target == "h5":
        return [(SAMPLE / "sample.caffemodel.h5").read_bytes()]
    if target == "mean":
        blob = caffe_proto.BlobProto()
        blob.shape.dim.extend([1, 1, 28, 28])
        blob.data.extend(rng.random(784).astype(np.float32).tolist())
        legacy = caffe_proto.BlobProto(num=1, channels=1, height=28, width=28)
        legacy.double_data.extend([0.5] * 784)
        return [blob.SerializeToString(), legacy.SerializeToString()]
    if target == "manifest":
        return [(ROOT / "models.yaml").read_bytes(), (ROOT / "manifests" / "cifar10.yaml").read_bytes()]
    if target == "image":
        from PIL import Image

        img = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
        jpeg, progressive = io.BytesIO(), io.BytesIO()
        Image.fromarray(img).save(jpeg, "JPEG")
        Image.fromarray(img).save(progressive, "JPEG", progressive=True)
        plte = struct.pack(">I", 6) + b"PLTE" + bytes(range(6))
        plte += struct.pack(">I", zlib.crc32(plte[4:]))
        return [png_bytes(img, (0, 1, 2, 3, 4)), png_bytes(img[..., 0], (4,)),
                png_bytes(np.dstack([img, img[..., :1]]), (1, 3)),
                _png(3, 2, 1, 3, bytes([0, 0b01000000, 4, 0b10000000])[:4], extra=plte),
                _png(2, 2, 16, 0, bytes([0, 1, 2, 3, 4, 2, 5, 6, 7, 8])),
                b"P6 5 6 255\n" + img.tobytes(), b"P5\n# c\n5 6\n15\n" + (img[..., 0] % 16).tobytes(),
                jpeg.getvalue(), progressive.getvalue()]
    if target == "npz":
        images = rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
        out = []
        for save in (np.savez, np.savez_compressed):
            buf = io.BytesIO()
            save(buf, images=images, labels=np.array([1, 2, 3]))
            out.append(buf.getvalue())
        return out
    if target == "tflite":
        return _tflite_seeds()
    if target == "onnx":
        return _onnx_seeds()
    raise KeyError(target)


MAGIC = {"prototxt": [b"layer {", b"name: "], "caffemodel": [b"\x0a\x04", b"\xa2\x06"], "h5": [b"\x89HDF\r\n\x1a\n"],
         "mean": [b"\x3a", b"\x08"], "manifest": [b"version: 1\nmodels:\n", b"- "],
         "image": [b"\x89PNG\r\n\x1a\n", b"P5 ", b"P6\n", b"\xff\xd8\xff"], "npz": [b"PK\x03\x04"],
         "tflite": [b"\x1c\x00\x00\x00TFL3", b"\x10\x00\x00\x00TFL3"], "onnx": [b"\x08\x07\x3a", b"\x3a"]}
TOKENS = {
    "prototxt": [b"{", b"}", b"<", b"layer {", b"dim: -1", b"dim: 1000000000", b"num_output: 0", b"\x00", b"\"",
                 b"kernel_size: 99999", b"#", b"type: \"Convolution\"", b"1e999", b"bottom: \"data\""],
    "manifest": [b"!!int abc", b"!!timestamp x", b"!!python/name:os.system", b"\x00", b"[", b"{", b"&a", b"*a",
                 b"- ", b": ", b"m9", b"2001-02-30", b"\t", b"\xff", b"-1", b"1e999", b"'", b"\n  "],
}
_INTS = [struct.pack("<q", v) for v in (-1, 2 ** 63 - 1, -2 ** 63, 2 ** 31, 2 ** 32 + 1)] + \
        [struct.pack("<I", v) for v in (0xFFFFFFFF, 0x7FFFFFFF, 0x80000000)] + \
        [b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x80\x80\x80\x80\x10"]   # varints: -1, 2^32


def _mutate(data, ops):
    data = bytearray(data)
    for op, pos, value in ops:
        at = pos % (len(data) + 1)
        if op == "flip" and data:
            data[at % len(data)] ^= value[0] or 1
        elif op == "set":
            data[at:at + len(value)] = value
        elif op == "insert":
            data[at:at] = value
        elif op == "delete":
            del data[at:at + value[0] + 1]
        elif op == "truncate":
            del data[at:]
        elif op == "repeat":
            data[at:at] = bytes(data[at:at + 64]) * (value[0] % 8 + 1)
    return bytes(data)


def strategy(target):
    """Hypothesis strategy of input bytes for `target`."""
    from hypothesis import strategies as st

    base = seeds(target)
    tokens = TOKENS.get(target, []) + _INTS
    value = st.one_of(st.binary(min_size=1, max_size=16), st.sampled_from(tokens))
    op = st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]),
                   st.integers(0, 1 << 24), value)
    mutated = st.builds(_mutate, st.sampled_from(base), st.lists(op, min_size=1, max_size=6))
    noise = st.builds(lambda m, b: m + b, st.sampled_from(MAGIC[target] + [b""]), st.binary(max_size=600))
    parts = [mutated, mutated, noise]
    structured = _STRUCTURED.get(target)
    if structured:
        parts.append(structured(st))
    return st.one_of(*parts)


def _blobs_strategy(st, net):
    from nnbuild.frontends.caffe import proto as caffe_proto

    dims = st.lists(st.one_of(st.integers(-3, 40), st.integers(-2 ** 63, 2 ** 63 - 1)), max_size=5)

    def make(specs):
        msg = caffe_proto.NetParameter(name="fuzz") if net else None
        blobs = []
        for name, shape, n, legacy, double in specs:
            layer = msg.layer.add(name=name) if net else None
            b = layer.blobs.add() if net else caffe_proto.BlobProto()
            if legacy:
                shape = (list(shape) + [1, 1, 1, 1])[:4]
                b.num, b.channels, b.height, b.width = shape
            else:
                b.shape.dim.extend(shape)
            (b.double_data if double else b.data).extend([0.25] * n)
            blobs.append(b)
        return msg.SerializeToString() if net else blobs[0].SerializeToString()

    names = st.sampled_from(["conv1", "conv2", "ip1", "ip2", "x"])
    spec = st.tuples(names, dims, st.integers(0, 3000), st.booleans(), st.booleans())
    return st.builds(make, st.lists(spec, min_size=1, max_size=4 if net else 1))


def _png_strategy(st):
    def make(w, h, depth, ctype, interlace, raw, plte, filters):
        rows = bytearray(raw)
        for i in range(0, len(rows), 7):
            rows[i] = filters % 6
        extra = b""
        if plte is not None:
            payload = bytes(plte)
            extra = struct.pack(">I", len(payload)) + b"PLTE" + payload + struct.pack(">I", zlib.crc32(b"PLTE" + payload))
        return _png(w, h, depth, ctype, bytes(rows), extra, interlace)

    size = st.one_of(st.integers(0, 20), st.integers(0, 2 ** 32 - 1))
    return st.builds(make, size, size, st.sampled_from([1, 2, 4, 8, 16, 3]), st.sampled_from([0, 2, 3, 4, 6, 5]),
                     st.sampled_from([0, 1, 2]), st.binary(max_size=1500), st.none() | st.binary(max_size=40),
                     st.integers(0, 5))


def _npz_strategy(st):
    def make(descr, shape, fortran, n, compression, name, version):
        d = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode()
        d += b" " * (64 - (12 + len(d)) % 64) + b"\n"
        head = b"\x93NUMPY" + bytes([version, 0]) + (struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d)))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression) as z:
            z.writestr(name + ".npy", head + bytes(n))
        return buf.getvalue()

    descr = st.sampled_from(["|u1", "<f4", ">i4", "|O", "<U3", "|b1", "<c8", "[('a', '<i4')]", "|V4", "<M8[s]"])
    dims = st.lists(st.one_of(st.integers(-2, 40), st.integers(0, 2 ** 63)), max_size=5)
    return st.builds(make, descr, dims, st.booleans(), st.integers(0, 5000),
                     st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]),
                     st.sampled_from(["images", "labels"]), st.sampled_from([1, 2]))


def _prototxt_strategy(st):
    """The sample net with its numbers replaced by hostile ones: keeps the syntax valid, so the
    frontend's shape and weight checks are reached."""
    import re

    text = (SAMPLE / "sample.prototxt").read_text()
    numbers = [m.span() for m in re.finditer(r"(?<=: )-?\d+(\.\d+)?", text)]
    hostile = st.one_of(st.integers(-3, 70), st.sampled_from([2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 63 - 1, -2 ** 31,
                                                               10 ** 9, 4096, 65536]))

    def make(changes):
        out = text
        for index, value in sorted(changes, key=lambda c: -numbers[c[0] % len(numbers)][0]):
            a, b = numbers[index % len(numbers)]
            out = out[:a] + str(value) + out[b:]
        return out.encode()

    return st.builds(make, st.lists(st.tuples(st.integers(0, 10 ** 6), hostile), min_size=1, max_size=4,
                                    unique_by=lambda c: c[0] % len(numbers)))


def _h5_strategy(st):
    """The sample's data/<layer>/<i> datasets with some replaced by datasets of arbitrary declared
    shape (chunked fill values: tiny files declaring up to 10^12 values), dtype or kind."""
    import numpy as np

    def make(changes):
        import h5py

        buf = io.BytesIO()
        weights = _sample_weights()
        with h5py.File(buf, "w") as f:
            data = f.create_group("data")
            for name, arrays in weights.items():
                g = data.create_group(name)
                for i, a in enumerate(arrays):
                    g.create_dataset(str(i), data=a)
            for layer, index, shape, dtype, kind in changes:
                g = data.require_group(layer)
                key = str(index) if index >= 0 else "w"
                if key in g:
                    del g[key]
                if kind == "group":
                    g.create_group(key)
                elif kind == "scalar":
                    g.create_dataset(key, data=np.float32(1.5))
                else:
                    size = max(1, int(np.prod(shape, dtype=object)))
                    chunks = tuple(max(1, min(d, 64)) for d in shape) if shape and size > 1 else None
                    g.create_dataset(key, shape=tuple(shape), dtype=dtype, chunks=chunks,
                                     compression="gzip" if chunks else None)
        return buf.getvalue()

    dims = st.lists(st.one_of(st.integers(0, 30), st.sampled_from([10 ** 6, 2 ** 24 + 1, 10 ** 12])), max_size=4)
    change = st.tuples(st.sampled_from(["conv1", "conv2", "ip1", "ip2", "extra"]), st.integers(-1, 2), dims,
                       st.sampled_from(["f4", "f8", "i8", "u1", "S3", "c8", "f2"]),
                       st.sampled_from(["dataset", "dataset", "group", "scalar"]))
    return st.builds(make, st.lists(change, min_size=1, max_size=3))


_STRUCTURED = {"prototxt": _prototxt_strategy, "h5": _h5_strategy, "caffemodel": lambda st: _blobs_strategy(st, True), "mean": lambda st: _blobs_strategy(st, False),
               "image": _png_strategy, "npz": _npz_strategy}
TARGETS = tuple(t for t in WORKER_TARGETS if t != "selftest")
_NAMES = {"npz": "data.npz", "manifest": "models.yaml", "prototxt": "net.prototxt", "h5": "w.caffemodel.h5",
          "caffemodel": "w.caffemodel", "mean": "mean.binaryproto", "image": "image", "tflite": "m.tflite",
          "onnx": "m.onnx"}


# -- one fuzz campaign ------------------------------------------------------------------------------

ACCEPTABLE = ("ok", "error")


class Stats:
    def __init__(self):
        self.examples, self.outcomes, self.slowest, self.peak_rss, self.failures = 0, {}, 0.0, 0, []
        self.bad = []   # (input, result) of every unacceptable outcome, the shrunk one last

    def add(self, data, result):
        if result["outcome"] not in ACCEPTABLE:
            self.bad.append((data, result))
        self.examples += 1
        self.outcomes[result["outcome"]] = self.outcomes.get(result["outcome"], 0) + 1
        self.slowest = max(self.slowest, result["seconds"])
        self.peak_rss = max(self.peak_rss, result["rss"])

    def summary(self):
        return {"examples": self.examples, "outcomes": self.outcomes, "slowest_s": round(self.slowest, 3),
                "worker_peak_rss_mib": round(self.peak_rss / 2 ** 20, 1), "failures": self.failures}


def fuzz(target, worker, examples, seconds=None, derandomize=True, stats=None):
    """Run hypothesis over `target`; raises AssertionError (shrunk) on the first bad outcome."""
    from hypothesis import HealthCheck, given, settings

    stats = stats if stats is not None else Stats()
    end = time.monotonic() + seconds if seconds else None

    @settings(max_examples=examples, derandomize=derandomize, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy(target))
    def check(data):
        if end is not None and time.monotonic() > end:
            return      # time is up: let hypothesis finish its remaining examples without work
        result = worker.run(target, data, _NAMES[target])
        stats.add(data, result)
        assert result["outcome"] in ACCEPTABLE, \
            f"{target}: {result['outcome']} on {len(data)} bytes {data[:64]!r}...: {result['detail']}"

    check()
    return stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--examples", type=int, default=500, help="examples per target (default 500)")
    ap.add_argument("--seconds", type=float, default=None, help="time limit per target")
    ap.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    ap.add_argument("--seed", action="store_true", help="derandomize (same inputs every run)")
    ap.add_argument("--out", default="fuzz-failures", help="folder for failing inputs (default ./fuzz-failures)")
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main()
    report = {}
    worker = Worker()
    try:
        for target in args.targets:
            stats = Stats()
            try:
                fuzz(target, worker, args.examples, args.seconds, args.seed, stats)
            except AssertionError:
                data, result = stats.bad[-1]   # hypothesis replays its shrunk example last
                os.makedirs(args.out, exist_ok=True)
                saved = os.path.join(args.out, f"{target}-{zlib.crc32(data):08x}.bin")
                with open(saved, "wb") as f:
                    f.write(data)
                stats.failures.append({"outcome": result["outcome"], "input": saved,
                                       "detail": result["detail"][-600:]})
            report[target] = stats.summary()
    finally:
        worker.close()
    print(json.dumps({"memory_limit_mib": MEMORY_LIMIT >> 20, "time_limit_s": TIME_LIMIT, "targets": report}))
    return 1 if any(r["failures"] for r in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
