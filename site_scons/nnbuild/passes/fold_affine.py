"""Fold channel_affine (BatchNorm, Scale, Bias) into the conv2d / fully_connected that produces
its input, when that layer has no other reader: w' = w * mul[o], b' = b * mul[o] + add[o]
(float64 math, stored as float32). Exact in real arithmetic; the float result changes only by the
float32 rounding of the folded weights. An affine that cannot be folded stays an op of its own."""
import copy

import numpy as np

from ._graph import bypass, sole_reader

FOLDS_INTO = ("conv2d", "fully_connected")


def apply(graph):
    g = copy.deepcopy(graph)
    for op in list(g.ops):
        if op.type != "channel_affine":
            continue
        prod = g.producer(op.inputs[0])
        if prod is None or prod.type not in FOLDS_INTO or sole_reader(g, op.inputs[0]) is not op \
                or prod.attrs.get("activation", "none") != "none":
            continue
        mul = np.asarray(op.params["mul"], np.float64)
        add = np.asarray(op.params["add"], np.float64)
        w = prod.params["weight"].astype(np.float64)
        prod.params["weight"] = (w * mul.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
        prod.params["bias"] = (prod.params["bias"].astype(np.float64) * mul + add).astype(np.float32)
        bypass(g, op)
    return g
