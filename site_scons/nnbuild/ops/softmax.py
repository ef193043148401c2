"""softmax over the channel axis."""
import numpy as np

from . import OpDef, register
from .activation import same_shape


def _reference(op, args):
    x = args[0]
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


register(OpDef("softmax", frozenset(), (), same_shape, _reference))
