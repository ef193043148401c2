"""Lookup tables the generated code carries (definitions in docs/q7_contract.md)."""
import math

import numpy as np


def softmax_exp_table(frac_bits):
    """exp_table[d] = round(2^16 * exp(-d * 2^-f)) for d = 0..255 (nn_softmax_q7's table for
    logits with `frac_bits` f). Rounding is half up; exact halves cannot occur for d > 0."""
    step = 2.0 ** -int(frac_bits)
    return np.array([math.floor(65536.0 * math.exp(-d * step) + 0.5) for d in range(256)], dtype=np.int32)
