"""channel_affine: y = x * mul[c] + add[c] per channel (Caffe BatchNorm, Scale and Bias layers).

The fold_affine pass folds it into the convolution or inner product before it when that layer
has no other reader; what remains is executed as an op of its own."""
import numpy as np

from . import OpDef, register
from .activation import same_shape


def _reference(op, args):
    mul = np.asarray(op.params["mul"], np.float32)
    add = np.asarray(op.params["add"], np.float32)
    return (args[0] * mul + add).astype(np.float32)


register(OpDef("channel_affine", frozenset(), ("mul", "add"), same_shape, _reference))
