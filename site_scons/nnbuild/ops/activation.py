"""Element-wise activations: relu (with Caffe's negative_slope), sigmoid, tanh; and the fused
activation that conv2d / fully_connected apply to their output (attribute `activation`)."""
import numpy as np

from ..errors import NnbuildError
from . import OpDef, register

FUSABLE = ("none", "relu")


def same_shape(op, in_shapes):
    return in_shapes[0]


def apply_activation(op, y):
    act = op.attrs.get("activation", "none")
    if act == "relu":
        return np.maximum(y, 0)
    if act != "none":
        raise NnbuildError(f"unknown fused activation '{act}'", where=f"op '{op.name}'",
                           expected=" or ".join(FUSABLE))
    return y


def _relu(op, args):
    x = args[0]
    slope = float(op.attrs.get("negative_slope", 0.0))
    return np.where(x > 0, x, x * np.float32(slope)) if slope else np.maximum(x, 0)


def _sigmoid(op, args):
    return (0.5 + 0.5 * np.tanh(0.5 * args[0])).astype(np.float32)   # = 1/(1+e^-x), no overflow


def _tanh(op, args):
    return np.tanh(args[0])


register(OpDef("relu", frozenset({"negative_slope"}), (), same_shape, _relu))
register(OpDef("sigmoid", frozenset(), (), same_shape, _sigmoid))
register(OpDef("tanh", frozenset(), (), same_shape, _tanh))
