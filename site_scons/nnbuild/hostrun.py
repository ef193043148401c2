"""Run generated model C on the build machine through ctypes (fast bit-exactness tests, and
`nnbuild eval --mode host`). The same sources the firmware links are compiled with the host cc."""
import ctypes
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import csources, hostcc, ir
from .codegen.cformat import check_model_name
from .errors import NnbuildError


MIN_PER_WORKER = 16    # below this many images a thread costs more than it saves
_RUN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_int8))


class NnModelStruct(ctypes.Structure):
    """Mirror of `nn_model` in firmware_template/app/nn_model.h (same field order and types)."""
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("in_h", ctypes.c_int16), ("in_w", ctypes.c_int16), ("in_c", ctypes.c_int16),
        ("channel_order", ctypes.c_char_p),
        ("out_n", ctypes.c_int16),
        ("out_scale", ctypes.c_float),
        ("out_zero_point", ctypes.c_int32),
        ("run", _RUN),
        ("labels", ctypes.POINTER(ctypes.c_char_p)),
        ("softmax_exp_table", ctypes.POINTER(ctypes.c_int32)),
        ("softmax_exp_len", ctypes.c_int16),
        ("n_layers", ctypes.c_int16),
        ("layer_names", ctypes.POINTER(ctypes.c_char_p)),
        ("layer_ops", ctypes.POINTER(ctypes.c_char_p)),
        ("layer_macs", ctypes.POINTER(ctypes.c_uint32)),
        ("macs", ctypes.c_uint32),
        ("arena_bytes", ctypes.c_uint32),
        ("input", ctypes.POINTER(ctypes.c_uint8)),
    ]


def kernel_sources(dsp=False):
    """The kernel sources the host builds: the `dsp` variant (compiled with NN_EMULATE_DSP) or
    the portable `ref` one, from firmware_template/sources.json."""
    return csources.kernel_sources(host_isa(dsp))


def host_isa(dsp=False):
    """The kernel variant the host builds (and plans scratch for)."""
    return "dsp" if dsp else "ref"


def host_defines(dsp=False):
    return ["NN_EMULATE_DSP"] if dsp else []


class HostModel:
    """A generated model compiled into a host shared library.

    `source` is a quantized ir.Graph (generated into <build_dir>/<name>_gen first) or a directory
    that already holds <name>.h/<name>.c (planned for this variant's scratch, or for any: "*").
    `dsp=True` compiles the kernels' `dsp` variant with the C emulation of the intrinsics
    (-DNN_EMULATE_DSP), otherwise the portable `ref` one; a graph is planned for that variant."""

    def __init__(self, source, name, build_dir, dsp=False):
        check_model_name(name)
        build_dir = Path(build_dir)
        self.steps = self.plan = None
        if isinstance(source, ir.Graph):
            gen_dir = build_dir / f"{name}_gen"
            from .pipeline import generate_model

            self.steps, self.plan, _ = generate_model(source, gen_dir, name, isa=host_isa(dsp))
        else:
            gen_dir = Path(source)
        model_c = gen_dir / f"{name}.c"
        if not model_c.exists():
            raise NnbuildError(f"generated model source {name}.c not found", file=gen_dir,
                               expected="the output of nnbuild.codegen.generate")
        self.generated_dir = gen_dir
        try:
            lib_path = hostcc.build_shared([model_c, *kernel_sources(dsp)], build_dir,
                                           include_dirs=[*csources.include_dirs(), gen_dir],
                                           defines=host_defines(dsp))
        except NnbuildError as e:
            raise _layout_mismatch(e, model_c, host_isa(dsp)) from None
        self._name, self._lib_path = name, Path(lib_path)
        self._lib = hostcc.load(lib_path)
        self._run = self._entry(self._lib)
        self._copies = []           # more loaded copies of the library, for parallel runs
        self.model = NnModelStruct.in_dll(self._lib, f"{name}_model")
        self.input_shape = (self.model.in_h, self.model.in_w, self.model.in_c)
        self.out_n = self.model.out_n

    def run(self, pixels, workers=None):
        """uint8 pixels (N, H, W, C) or (H, W, C) -> int8 scores (N, out_n), on `workers`
        threads (default: one per core, for batches of at least MIN_PER_WORKER per thread)."""
        x = np.asarray(pixels)
        if x.ndim == 3:
            x = x[None]
        if x.dtype != np.uint8 or tuple(x.shape[1:]) != self.input_shape:
            raise NnbuildError(f"input of dtype {x.dtype} and shape {x.shape}", where="HostModel.run",
                               expected=f"uint8 (N, {', '.join(map(str, self.input_shape))})")
        x = np.ascontiguousarray(x)
        out = np.zeros((x.shape[0], self.out_n), dtype=np.int8)
        workers = max(1, min(workers or os.cpu_count() or 1, len(x) // MIN_PER_WORKER))
        runs = [self._run] + self._more_runs(workers - 1)
        bounds = np.linspace(0, len(x), workers + 1).astype(int)
        if workers == 1:
            self._run_range(runs[0], x, out, 0, len(x))
        else:   # ctypes releases the GIL: each thread runs its slice in its own library copy
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda k: self._run_range(runs[k], x, out, bounds[k], bounds[k + 1]),
                              range(workers)))
        return out

    def run_in_arena(self, pixels):
        """As run (one thread), but each image is first written to the descriptor's `input`, the
        pixels' place in the arena, as the firmware app does: run then reads them there."""
        x = np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8).reshape(-1, *self.input_shape))
        out = np.zeros((x.shape[0], self.out_n), dtype=np.int8)
        for i in range(len(x)):
            ctypes.memmove(self.model.input, x[i].ctypes.data, x[i].size)
            rc = self._run(self.model.input, out[i].ctypes.data_as(ctypes.POINTER(ctypes.c_int8)))
            if rc != 0:
                raise NnbuildError(f"{self._name}_run returned {rc}", where=f"image {i}")
        return out

    def _entry(self, lib):
        run = getattr(lib, f"{self._name}_run")
        run.restype = ctypes.c_int
        run.argtypes = [ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_int8)]
        return run

    def _more_runs(self, n):
        """Run functions of `n` more copies of the library: the generated model keeps its
        activations in one static arena (not reentrant), so each thread needs its own copy."""
        while len(self._copies) < n:
            k = len(self._copies) + 1
            copy = self._lib_path.with_name(f"{self._lib_path.stem}.copy{k}.so")
            if not copy.exists():
                tmp = copy.with_suffix(f".{os.getpid()}.tmp")
                shutil.copyfile(self._lib_path, tmp)
                os.replace(tmp, copy)
            lib = hostcc.load(copy)
            self._copies.append((lib, self._entry(lib)))
        return [run for _, run in self._copies[:n]]

    @staticmethod
    def _run_range(run, x, out, start, end):
        for i in range(start, end):
            rc = run(x[i].ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                     out[i].ctypes.data_as(ctypes.POINTER(ctypes.c_int8)))
            if rc != 0:
                raise NnbuildError(f"generated run function returned {rc}", where=f"sample {i}")

    def info(self):
        """The model's nn_model descriptor as a dict (what the firmware app sees)."""
        m = self.model
        n = m.n_layers
        return {
            "name": m.name.decode(), "input_shape": self.input_shape,
            "channel_order": m.channel_order.decode(), "out_n": m.out_n, "out_scale": m.out_scale,
            "out_zero_point": m.out_zero_point,
            "labels": [m.labels[i].decode() for i in range(m.out_n)] if m.labels else None,
            "softmax_exp_table": np.array(m.softmax_exp_table[:m.softmax_exp_len], dtype=np.int32),
            "layer_names": [m.layer_names[i].decode() for i in range(n)],
            "layer_ops": [m.layer_ops[i].decode() for i in range(n)],
            "layer_macs": [int(m.layer_macs[i]) for i in range(n)],
            "macs": m.macs, "arena_bytes": m.arena_bytes,
        }


_MARKER = re.compile(r"undefined (?:reference to|symbol:) .?nn_weight_layout_(\w+)")   # GNU ld, lld


def _layout_mismatch(err, model_c, isa):
    """`err` (a failed host build) said in the linker's words when the model's weights are in a
    layout the `isa` kernels do not read (nn_kernels.h: NN_WEIGHT_LAYOUT); else `err` itself."""
    m = _MARKER.search(str(err))
    if m is None:
        return err
    from .kernels import weight_layout

    return NnbuildError(f"the model's weights are in the '{m.group(1)}' layout, but the {isa} kernels read "
                        f"the '{weight_layout(isa)}' layout (it was generated for another kernel variant)",
                        file=model_c, where="NN_WEIGHT_LAYOUT in its run function",
                        expected=f"a model generated for the {isa} variant (generate_model(..., isa='{isa}'))")


def generate_and_build(qgraph, build_dir, name, dsp=False):
    """lower + plan + generate + host compile; returns a HostModel."""
    return HostModel(qgraph, name, build_dir, dsp=dsp)
