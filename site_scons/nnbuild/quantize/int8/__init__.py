"""The int8 scheme: TensorFlow Lite's int8 quantization as TensorFlow Lite Micro computes it. A
tensor's record is {"scale": s, "zero_point": z}: real = (q - z) * s, s a float32 value
(docs/int8_contract.md).

    arith.py       TFLite's integer primitives (QuantizeMultiplier, SRDHM, RDBPOT, MBQM, qparams)
    ops/           per-op rules: integer parameters and golden op (RULES)
    params.py      weights, bias, multipliers, shared params, and lower(): the quantized graph
    ranges.py      the strategies: (scale, zero point) of a tensor group from its range
    golden.py      the bit-exact integer arithmetic (TFLM's reference kernels)
    here           one (scale, zero point) per group of tensors that must share it
"""
import numpy as np

from .. import groups
from . import params, ranges
from .ops import RULES, rule

GOLDEN = {op_type: r.golden for op_type, r in RULES.items()}   # read by nnbuild.golden
NAME = "int8"
OPTIONS = params.OPTIONS
STRATEGIES = ranges.STRATEGIES
# mse, as for q7: on cifar10_m4 its logits follow the float model more closely (SQNR 32.9 dB
# against minmax's 32.2, same top-1 as float on 919 images against 918); top-1 742 vs 743 is noise.
DEFAULT_STRATEGY = "mse"


def quantize(fgraph, pixels, strategy, warnings, options=None):
    """The quantized graph of float graph `fgraph` calibrated on `pixels`; appends warnings.
    options: {"per_channel": bool} (default True)."""
    options = params.check_options(options)
    for op in fgraph.ops:       # refuse what has no rule before any calibration work
        if rule(op).check is not None:
            rule(op).check(op)
        if "weight" in op.params:
            params.weight_scales(op.params["weight"], options["per_channel"], f"layer '{op.name}' ({op.type})")
    qp = choose_qparams(fgraph, pixels, strategy, warnings)
    return params.lower(fgraph, qp, options, warnings)


def dequantize(q, tensor):
    """Real values of int8 `q` stored in `tensor`'s format."""
    s, z = output_affine(tensor)
    return (np.asarray(q, np.float64) - z) * s


def output_affine(tensor):
    """(scale, zero_point) with real = (q - zero_point) * scale (the application ABI)."""
    return float(tensor.quant["scale"]), int(tensor.quant["zero_point"])


def describe(tensor):
    """A tensor's format in one short string (the report)."""
    s, z = output_affine(tensor)
    return f"s={s:.4g} z={z}"


def layer_info(qop, fop):
    """The report's row of a layer with weights (quantized op, its float op): weight scales and
    the share of weights that round to +-127 (int8 weights never clip: scale = max|w| / 127)."""
    ws = np.asarray(qop.params["weight_scale"], np.float64)
    kind = "per channel" if qop.attrs.get("per_channel") else "per tensor"
    return {"format": f"{kind} s_w {ws.min():.3g}..{ws.max():.3g}", "weight_scale_min": float(ws.min()),
            "weight_scale_max": float(ws.max()), "weight_saturated": 0.0}


def share_groups(graph):
    """{tensor name: representative} of the groups that share (scale, zero point) (relu, pooling)."""
    return groups.share_groups(graph, lambda op: rule(op).same_params)


def fixed_outputs(graph):
    """Names of the tensors whose (scale, zero point) the op fixes."""
    return {op.outputs[0] for op in graph.ops if rule(op).fixed_params is not None}


def choose_qparams(graph, pixels, strategy, warnings):
    """{tensor name: (scale, zero point)} for every activation tensor (graph input excluded)."""
    return groups.assign(graph, pixels, lambda op: rule(op).same_params, lambda op: rule(op).fixed_params,
                         lambda sample, lo, hi: ranges.choose(sample, lo, hi, strategy), warnings)
