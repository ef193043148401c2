"""Lookup tables shared by the q7 golden ops, the kernels' parameters and the app descriptor."""
import math

import numpy as np


def softmax_exp_table(scale):
    """exp_table[d] = round(2^16 * exp(-d * scale)) for d = 0..255: nn_softmax_q7's table for
    int8 values whose step is `scale` (2^-f for q7). Only differences of values index it, so a
    zero point does not matter. Rounding is half up; exact halves cannot occur for d > 0."""
    return np.array([math.floor(65536.0 * math.exp(-d * float(scale)) + 0.5) for d in range(256)],
                    dtype=np.int32)
