"""The q7 scheme: power-of-two formats. A tensor's record is {"frac_bits": f}: real = q * 2^-f,
q an int8 (docs/q7_contract.md).

    ops/           per-op rules: frac-bits relations, integer parameters, golden op (RULES)
    params.py      rules shared by several ops, and lower(): the quantized graph from frac bits
    golden.py      the bit-exact integer arithmetic of the q7 kernels
    here           one frac-bits choice per group of tensors that must share it (stats.py ranges)
"""
import numpy as np

from .. import groups, stats
from . import params
from .ops import RULES

GOLDEN = {op_type: r.golden for op_type, r in RULES.items()}   # read by nnbuild.golden
NAME = "q7"
STRATEGIES = stats.STRATEGIES
DEFAULT_STRATEGY = "mse"


def quantize(fgraph, pixels, strategy, warnings):
    """The quantized graph of float graph `fgraph` calibrated on `pixels`; appends warnings."""
    params.check_weights(fgraph)      # absurd weights: a clear error before any calibration work
    bits = choose_frac_bits(fgraph, pixels, strategy, warnings)
    return params.lower(fgraph, bits, warnings)


def frac_bits(tensor):
    return int(tensor.quant["frac_bits"])


def dequantize(q, tensor):
    """Real values of int8 `q` stored in `tensor`'s format."""
    return np.asarray(q, np.float64) * 2.0 ** -frac_bits(tensor)


def output_affine(tensor):
    """(scale, zero_point) with real = (q - zero_point) * scale: the scheme-neutral description
    of a tensor's format for the application ABI (nn_model.out_scale / out_zero_point)."""
    return 2.0 ** -frac_bits(tensor), 0


def describe(tensor):
    """A tensor's format in one short string (the report)."""
    return f"frac bits {frac_bits(tensor)}"


def layer_info(qop, fop):
    """The report's row of a layer with weights (quantized op, its float op)."""
    fw = int(qop.attrs["weight_frac_bits"])
    w = np.asarray(fop.params["weight"], np.float64) * 2.0 ** fw
    return {"format": f"frac {fw}, shift {int(qop.attrs['out_shift'])}", "weight_frac_bits": fw,
            "out_shift": int(qop.attrs["out_shift"]), "weight_saturated": float(np.mean(np.round(w) > 127))}


def share_groups(graph):
    """{tensor name: representative} of the groups that share frac bits (relu, pooling)."""
    return groups.share_groups(graph, lambda op: params.rule(op).same_bits)


def fixed_outputs(graph):
    """Names of the tensors whose format the op fixes (their saturation is by design)."""
    return {op.outputs[0] for op in graph.ops if params.rule(op).fixed_bits is not None}


def choose_frac_bits(graph, pixels, strategy, warnings):
    """{tensor name: frac bits} for every activation tensor (graph input excluded)."""
    return groups.assign(graph, pixels, lambda op: params.rule(op).same_bits, lambda op: params.rule(op).fixed_bits,
                         lambda sample, lo, hi: stats.choose_bits(sample, lo, hi, strategy), warnings)
