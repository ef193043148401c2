"""Float reference executor (numpy, batched) with Caffe's semantics.

Activations are (N, H, W, C) arrays, one row per image. Each op's float semantics is its
`reference` in the op registry (nnbuild.ops); this module only walks the graph in batches.
The same walker runs the integer golden models (nnbuild.golden) with their own op functions.
"""
import numpy as np

from . import ops
from .errors import NnbuildError


def run_op(op, args):
    """Evaluate one float op on a list of batched input arrays."""
    return ops.run_reference(op, args)


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
