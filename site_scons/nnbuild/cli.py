"""`nnbuild` command line: the same step functions as the SCons builders.

    nnbuild import   --manifest F --model N -o DIR       float IR (graph.json/.npz)
    nnbuild quantize --manifest F --model N -o DIR [--data NPZ]   quantized IR + report
    nnbuild eval     --manifest F --model N --data NPZ --mode float|quant|host|qemu [--limit N] [--target T]
                     [--build-dir DIR] [--outputs FILE.npz]
                     (quant: the golden model of the manifest's scheme; q7 is its old name for q7
                     manifests. quant/host reuse DIR/models/N/quant.json/.npz when up to date;
                     --outputs writes the raw int8 output bytes of every image, array `outputs`)
    nnbuild bench    --manifest F --model N --target T [--report FILE.html]
    nnbuild export   --manifest F --model N --format tflite -o FILE [--build-dir DIR]   (int8 models)
    nnbuild export   --manifest F --model N --format tflite --float -o FILE   (the float model, before quantization)
    nnbuild export   --manifest F --format cmake --target T -o DIR [--model N]   (a CMake folder)
    nnbuild gate     --export DIR --elf ELF --map MAP   (budget gate of an ELF linked from DIR)

`eval` and `bench` end with one JSON line on stdout (scripts and CI parse it). Bad input prints
one paragraph to stderr and exits 1; nothing half-written is left behind.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import calibration, pipeline
from .errors import NnbuildError

ROOT = Path(__file__).resolve().parents[2]
EVAL_MODES = ("float", "quant", "q7", "host", "qemu")


def _entry(args):
    from .manifest import load_manifest

    return load_manifest(args.manifest).model(args.model)


def make_predictor(entry, graph, mode, target="m4", build_dir=None):
    """A function images (N,H,W,C uint8) -> scores (N, classes) for one execution mode.

    The model is quantized and built once, so the function can be called on many batches. With
    `build_dir`, q7/host use the build's quantized model when its record shows it up to date."""
    if mode not in EVAL_MODES:
        raise NnbuildError(f"unknown mode '{mode}'", expected=" | ".join(EVAL_MODES))
    if mode == "float":
        from . import reference

        if "quantization" in graph.meta:    # an imported int8 model (.tflite, QDQ ONNX) has no float twin
            raise NnbuildError(f"model '{entry.name}' arrives quantized and has no float model",
                               where=str(entry.manifest_path), expected="--mode quant, host or qemu")
        return lambda images: reference.run(graph, images).reshape(len(images), -1)
    if mode == "qemu":
        from . import firmware

        elf = firmware.scons_build(entry.manifest_path, target, entry.name)
        return lambda images: firmware.run_batch(entry, target, images, elf=elf)[0]
    if mode == "q7" and entry.quantization.scheme != "q7":
        raise NnbuildError(f"--mode q7 evaluates a q7 model, and '{entry.name}' is quantized with "
                           f"scheme {entry.quantization.scheme}", where=str(entry.manifest_path),
                           expected="--mode quant (the golden model of the manifest's scheme)")
    qgraph = quantized_model(entry, graph, build_dir)
    if mode in ("quant", "q7"):
        from . import golden

        return lambda images: golden.run(qgraph, images).reshape(len(images), -1)
    from .hostrun import generate_and_build

    return generate_and_build(qgraph, ROOT / "build" / "host" / entry.name, entry.name).run


def quantized_model(entry, graph, build_dir=None):
    """The build's quantized model when it is up to date (quantrecord), else a fresh quantization;
    says on stderr which one it is."""
    from . import quantrecord

    why = "no build directory given"
    if build_dir is not None:
        d = Path(build_dir) / "models" / entry.name
        qgraph, why = quantrecord.load_fresh(d / "quant.json", d / "quant.npz", entry, graph)
        if qgraph is not None:
            print(f"nnbuild: using the quantized model of the build ({d / 'quant.json'}, up to date)",
                  file=sys.stderr)
            return qgraph
    print(f"nnbuild: quantizing '{entry.name}' ({why})", file=sys.stderr)
    qgraph, report = pipeline.quantize_graph(entry, graph)
    for w in report["warnings"]:
        print(f"nnbuild: warning: model '{entry.name}': {w}", file=sys.stderr)
    return qgraph


def cmd_eval(args):
    entry = _entry(args)
    graph = pipeline.import_model(entry)
    images, labels = calibration.load_eval_data(args.data, graph, args.limit)
    if args.outputs and args.mode == "float":
        raise NnbuildError("--outputs writes the integer output bytes of a quantized model",
                           expected="--mode quant, host or qemu with --outputs")
    scores = make_predictor(entry, graph, args.mode, args.target, args.build_dir)(images)
    if args.outputs:
        _write_outputs(Path(args.outputs), scores)
    # top-1 is the first maximum (the firmware's rule, docs/q7_contract.md)
    correct = int(np.sum(np.argmax(scores, axis=1) == labels))
    result = {"model": entry.name, "mode": args.mode, "n": int(len(labels)), "correct": correct,
              "top1": round(correct / max(1, len(labels)), 6)}
    if args.mode == "qemu":
        result["target"] = args.target
    print(json.dumps(result))


def _write_outputs(path, scores):
    """The raw output bytes (N, classes) int8 as FILE.npz array `outputs`, written atomically."""
    from .errors import atomic_write

    if path.suffix != ".npz":
        raise NnbuildError(f"--outputs {path}", expected="a file name ending in .npz")
    with atomic_write(path) as f:
        np.savez(f, outputs=np.ascontiguousarray(scores, dtype=np.int8))


def cmd_import(args):
    entry = _entry(args)
    out = Path(args.output)
    pipeline.import_step(entry, out / "graph.json", out / "graph.npz")
    print(f"wrote {out / 'graph.json'} and {out / 'graph.npz'}")


def cmd_quantize(args):
    entry = _entry(args)
    out = Path(args.output)
    pipeline.import_step(entry, out / "graph.json", out / "graph.npz")
    pipeline.quantize_step(entry, out / "graph.json", out / "graph.npz", out / "quant.json",
                           out / "quant.npz", out / "quant_report.txt", eval_data=args.data)
    print((out / "quant_report.txt").read_text(), end="")


def cmd_bench(args):
    from . import firmware

    entry = _entry(args)
    result = firmware.bench(entry, args.target, Path(args.manifest))
    if args.report:
        firmware.bench_report(result, args.report)
    print(json.dumps(result))


def cmd_export(args):
    """Write the quantized model in another tool chain's format (nnbuild.exporters), atomically:
    one model as one file (tflite), or every model the manifest builds for --target as one
    folder (cmake). --float writes the import step's float graph instead (no quantization)."""
    from . import exporters

    exp = exporters.exporter(args.format)
    if getattr(exp, "FOLDER", False) and not args.float:
        return _export_folder(exp, args)
    if args.float and not hasattr(exp, "export_float"):
        raise NnbuildError(f"--format {args.format} has no float export", where="--float",
                           expected="--format tflite, or leave --float out")
    if not args.model:
        raise NnbuildError(f"--format {args.format} exports one model", where="--model",
                           expected="--model NAME (a model of the manifest)")
    from .errors import atomic_write

    entry = _entry(args)
    graph = pipeline.import_model(entry)
    if args.float:
        if "quantization" in graph.meta:
            raise NnbuildError(f"model '{entry.name}' is imported already quantized and has no float graph",
                               file=entry.manifest_path, where=f"models[{entry.index}]", expected="a float model")
        data = exp.export_float(graph)
    else:
        data = exp.export(_quantized_for(exp, args, entry, graph))
    try:
        with atomic_write(args.output) as f:
            f.write(data)
    except OSError as e:
        raise NnbuildError(f"cannot write the exported model: {e.strerror}", file=args.output,
                           expected="a writable file path") from None
    print(f"wrote {args.output} ({len(data)} bytes, {args.format}{', float' if args.float else ''})")


def _quantized_for(exp, args, entry, graph):
    """The quantized graph of `entry`, refused before any calibration work if its scheme is not the exporter's."""
    q = graph.meta.get("quantization") or {}
    scheme = q.get("scheme") or (entry.quantization.scheme if entry.quantization else None)
    if scheme != exp.SCHEME:
        raise NnbuildError(f"model '{entry.name}' uses quantization scheme '{scheme}', and --format "
                           f"{args.format} writes {exp.SCHEME} models", file=entry.manifest_path,
                           where=f"models[{entry.index}].quantization.scheme", expected=f"scheme: {exp.SCHEME}")
    return quantized_model(entry, graph, args.build_dir)


def _export_folder(exp, args):
    """Every model the manifest builds for --target (or only --model) into one folder."""
    from .firmware import budgets_for
    from .manifest import load_manifest
    from .targets import get_target

    manifest = load_manifest(args.manifest)
    target = get_target(args.target or manifest.default_target or "m4")
    if args.model:
        entries = [manifest.model(args.model)]
    else:
        entries = [e for e in manifest.models if e.builds_for(target.name)]
    if not entries:
        raise NnbuildError(f"no model of the manifest is built for target '{target.name}'",
                           file=manifest.path, where="models[*].targets", expected="--target T of a model")
    models = [(e.name, quantized_model(e, pipeline.import_model(e), args.build_dir)) for e in entries]
    budgets = budgets_for(manifest, target, entries) if not target.is_host else {}
    n = exp.export_folder(models, target, budgets, args.output)
    print(f"wrote {args.output} ({n} files, {args.format}: {', '.join(e.name for e in entries)} "
          f"for {target.name})")


def cmd_gate(args):
    """`nnbuild gate`: the budget gate on an ELF linked from a CMake export (nnbuild_gate())."""
    from .exporters import cmake

    print(cmake.gate(args.export, args.elf, args.map, objcopy=args.objcopy), end="")


def build_parser():
    p = argparse.ArgumentParser(prog="nnbuild", description="Build trained CNNs into Cortex-M firmware.")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp):
        sp.add_argument("--manifest", default=str(ROOT / "models.yaml"), help="models.yaml (default: %(default)s)")
        sp.add_argument("--model", required=True, help="model name in the manifest")

    sp = sub.add_parser("import", help="write the float IR of a model")
    model_args(sp)
    sp.add_argument("-o", "--output", required=True, help="output directory")
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("quantize", help="quantize a model with its scheme and print the report")
    model_args(sp)
    sp.add_argument("-o", "--output", required=True, help="output directory")
    sp.add_argument("--data", help="evaluation .npz (images, labels): adds float vs quantized top-1 to the report")
    sp.set_defaults(func=cmd_quantize)

    sp = sub.add_parser("eval", help="top-1 accuracy of a model under one execution mode")
    model_args(sp)
    sp.add_argument("--data", required=True, help=".npz with images (N,H,W,C uint8 RGB) and labels")
    sp.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    sp.add_argument("--mode", choices=EVAL_MODES, default="float")
    sp.add_argument("--target", default="m4", help="firmware target for --mode qemu (default m4)")
    sp.add_argument("--build-dir", default=str(ROOT / "build"),
                    help="the build whose up-to-date quantized model quant/host reuse (default: %(default)s)")
    sp.add_argument("--outputs", help="write the raw int8 output bytes of every image to this .npz "
                                      "(array 'outputs', N x classes)")
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("bench", help="instructions, estimated cycles and latency, MACs and memory of a model's firmware in QEMU")
    model_args(sp)
    sp.add_argument("--target", default="m4")
    sp.add_argument("--report", metavar="FILE.html",
                    help="write the build report with this model's per-layer instruction counts "
                         "(FILE.html, and its data as FILE.json)")
    sp.set_defaults(func=cmd_bench)

    sp = sub.add_parser("export", help="write quantized models for another tool chain: a .tflite file "
                                       "(one int8 model) or a CMake folder (every model of a target)")
    sp.add_argument("--manifest", default=str(ROOT / "models.yaml"), help="models.yaml (default: %(default)s)")
    sp.add_argument("--model", help="model name in the manifest (tflite: required; cmake: only this model)")
    sp.add_argument("--format", required=True, help="export format (tflite: one int8 model; cmake: a folder)")
    sp.add_argument("--float", action="store_true",
                    help="tflite: write the float32 model (the import step's graph, before quantization; any scheme)")
    sp.add_argument("--target", help="cmake: the firmware target (default: the manifest's, else m4)")
    sp.add_argument("-o", "--output", required=True, help="output file (tflite) or folder (cmake)")
    sp.add_argument("--build-dir", default=str(ROOT / "build"),
                    help="the build whose up-to-date quantized model is reused (default: %(default)s)")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("gate", help="memory map + budget gate of an ELF linked from a CMake export")
    sp.add_argument("--export", required=True, help="the exported folder (its nnbuild.json)")
    sp.add_argument("--elf", required=True, help="the linked image")
    sp.add_argument("--map", required=True, help="the linker's .map file of the image")
    sp.add_argument("--objcopy", default="arm-none-eabi-objcopy", help="objcopy for .bin/.hex")
    sp.set_defaults(func=cmd_gate)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except NnbuildError as e:
        print(f"nnbuild: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
