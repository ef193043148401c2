"""softmax over channels (beta 1): TFLite Micro's int8 SOFTMAX, output (1/256, -128).

TFLM rescales each difference d = q - max(row) in [-255, 0] to Q5.26 and takes gemmlowp's
exp_on_negative_values of it; differences below diff_min are skipped. The exp is therefore a
function of -d alone: the rule stores it as an int32 table `exp_table[-d]` (0 where TFLM skips,
which contributes nothing to the sum and gives -128, exactly as the skip does). The kernel then
does what TFLM does with the exps: sum their Q12 rescales, GetReciprocal of the sum, and per
channel a high multiply by the reciprocal, a rounding shift, and the -128 offset.
"""
import numpy as np

from ....errors import NnbuildError
from .. import fixedpoint
from ..arith import QMAX, QMIN, check_int32, f32, quantize_multiplier, rounding_divide_by_pot, srdhm
from . import Rule, register, where
from .lut import scale_zp

SCALED_DIFF_INTEGER_BITS = 5            # TFLM: kScaledDiffIntegerBits
ACCUMULATION_INTEGER_BITS = 12          # TFLM: kAccumulationIntegerBits
# TFLM checks that the final shift (23 + log2 of the Q12 sum, at most) stays <= 31, and aborts
# otherwise: a row of 512 equal values (sum 512 in Q12 = 2^28) already fails. 511 channels
# keep every row of every input within it.
MAX_DEPTH = 511


def exp_table(scale, op):
    """The 256 exps of TFLM's int8 softmax for input scale `scale` (beta 1), by -difference."""
    real = min(f32(scale) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    multiplier, shift = quantize_multiplier(real)
    if not (real > 1.0 and shift >= 0):      # QuantizeMultiplierGreaterThanOne aborts otherwise
        raise NnbuildError(f"softmax input scale {scale:g}", where=where(op),
                           expected="an input scale above 2^-26 (TFLite's softmax multiplier must exceed 1)")
    diff_min = -fixedpoint.input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    diff = -np.arange(256, dtype=np.int64)
    used = diff >= diff_min
    rescaled = srdhm(np.where(used, diff, 0) << shift, multiplier)  # |diff| <= radius: fits int32
    return np.where(used, fixedpoint.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS), 0)


def _params(graph, op, q_in, q_out, options, warnings):
    depth = graph.tensors[op.inputs[0]].shape[-1]
    if depth > MAX_DEPTH:
        raise NnbuildError(f"int8 softmax over {depth} channels", where=where(op),
                           expected=f"at most {MAX_DEPTH}: beyond, TFLite Micro's int8 SOFTMAX aborts on "
                                    "rows whose values are (nearly) equal")
    scale, _ = scale_zp(q_in[0], op)
    return {}, {"exp_table": exp_table(scale, op).astype(np.int32)}


def softmax(x, table):
    """TFLM's int8 softmax of x (int8, softmax over the last axis) given its exp table."""
    table = np.asarray(table, np.int64)
    x = np.asarray(x, np.int64)
    e = table[x.max(axis=-1, keepdims=True) - x]
    acc = check_int32(rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS).sum(axis=-1, keepdims=True),
                      "softmax sum of exps")
    reciprocal, num_bits_over_unit = fixedpoint.get_reciprocal(acc, ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - 8
    if exponent.max() > 31:
        raise NnbuildError(f"softmax over {x.shape[-1]} channels with a sum of exps of {int(acc.max())} (Q12)",
                           expected=f"at most {MAX_DEPTH} channels (TFLite Micro aborts on this row)")
    y = rounding_divide_by_pot(srdhm(reciprocal, e), exponent) + QMIN
    return np.clip(y, QMIN, QMAX).astype(np.int8)


def _golden(op, args):
    table = op.params.get("exp_table")
    if table is None or np.shape(table) != (256,):
        raise NnbuildError(f"exp_table of shape {np.shape(table)}", where=where(op),
                           expected="256 int32 entries (a graph made by nnbuild.quantize, scheme int8)")
    return softmax(args[0], table)


register("softmax", Rule(_params, _golden, fixed_params=(1.0 / 256, -128)))
