"""prelu: y = x > 0 ? x : slope[c] * x, one learned slope per channel (Caffe PReLU)."""
import numpy as np

from . import OpDef, register
from .activation import same_shape


def _reference(op, args):
    x = args[0]
    return np.where(x > 0, x, x * np.asarray(op.params["slope"], np.float32)).astype(np.float32)


register(OpDef("prelu", frozenset(), ("slope",), same_shape, _reference))
