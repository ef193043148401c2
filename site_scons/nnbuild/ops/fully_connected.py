"""fully_connected: weight (O, H*W*C) in the HWC flatten order of its input, bias (O,) -> (1, 1, O)."""
import numpy as np

from . import OpDef, register
from .activation import apply_activation


def _shape(op, in_shapes):
    return (1, 1, int(np.shape(op.params["weight"])[0]))


def _reference(op, args):
    x = args[0]
    y = x.reshape(x.shape[0], -1) @ np.asarray(op.params["weight"], np.float32).T
    y = y + np.asarray(op.params["bias"], np.float32)
    return apply_activation(op, y.reshape(x.shape[0], 1, 1, -1))


register(OpDef("fully_connected", frozenset(), ("weight", "bias"), _shape, _reference))
