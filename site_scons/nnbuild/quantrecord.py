"""The record beside a quantized model (quant.record.json): from what quant.json/.npz were made.

quantize() is a pure function of the float graph, the calibration pixels and the strategy (and of
the quantizer's code), so a quantized model can be reused exactly when a fingerprint of those is
unchanged. The record also holds the SHA-256 of the two files it vouches for, and is written after
them: a stale, half-written or edited quant.json/.npz never matches its record.

    write_record(quant_json, quant_npz, entry, graph)   after the quantize step wrote its files
    load_fresh(quant_json, quant_npz, entry, graph)     -> (qgraph or None, why not)
"""
import hashlib
import json
from pathlib import Path

from . import ir
from .errors import NnbuildError, atomic_write

FORMAT = "nnbuild-quant-record"
VERSION = 1


def record_path(quant_json):
    return Path(quant_json).with_name("quant.record.json")


def fingerprint(entry, graph):
    """SHA-256 over everything the quantized model is a function of: the float graph's content,
    the calibration pixels, the strategy and the quantizer's source code."""
    from . import pipeline

    h = hashlib.sha256()
    for path in pipeline.step_sources("quantize"):
        h.update(path.relative_to(pipeline.PACKAGE_DIR).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    h.update(json.dumps(graph.to_json_dict(), sort_keys=True).encode())
    h.update(ir.npz_bytes(graph.params_dict()))
    q = entry.quantization
    h.update(json.dumps({"scheme": q.scheme, "strategy": q.strategy, "options": q.options()}, sort_keys=True).encode())
    if "quantization" not in graph.meta:        # an imported quantized model has no calibration
        pixels = pipeline.load_calibration(entry, graph)
        h.update(repr((pixels.dtype.str, pixels.shape)).encode())
        h.update(pixels.tobytes())
    return h.hexdigest()


def _file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_record(quant_json, quant_npz, entry, graph):
    """Write the record for the quantized files just written (atomically, last)."""
    rec = {"format": FORMAT, "version": VERSION, "inputs": fingerprint(entry, graph),
           "outputs": {"json": _file_hash(quant_json), "npz": _file_hash(quant_npz)}}
    with atomic_write(record_path(quant_json), "w") as f:
        f.write(json.dumps(rec, indent=1, sort_keys=True) + "\n")


def load_fresh(quant_json, quant_npz, entry, graph):
    """(the quantized graph, None) when the files match their record and the record matches the
    current inputs; else (None, the reason in a few words)."""
    rec_path = record_path(quant_json)
    if not (rec_path.is_file() and Path(quant_json).is_file() and Path(quant_npz).is_file()):
        return None, f"no quantized model with a record in {Path(quant_json).parent}"
    try:
        rec = json.loads(rec_path.read_text())
        ok = rec["format"] == FORMAT and rec["version"] == VERSION
        want = (rec["inputs"], rec["outputs"]["json"], rec["outputs"]["npz"])
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        return None, f"{rec_path} is unreadable"
    if (_file_hash(quant_json), _file_hash(quant_npz)) != want[1:]:
        return None, f"{Path(quant_json).name}/.npz differ from what {rec_path.name} records"
    if fingerprint(entry, graph) != want[0]:
        return None, "the model, calibration data, settings or quantizer changed since it was built"
    try:
        return ir.load_graph(quant_json, quant_npz).validate(), None
    except NnbuildError as e:
        return None, f"it cannot be loaded ({e.message})"
