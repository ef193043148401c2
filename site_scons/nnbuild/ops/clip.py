"""clip: y = min(max(x, min), max) with finite bounds (ONNX Clip, e.g. ReLU6 = clip [0, 6]).
Clip to [0, inf) is a relu, which frontends produce instead."""
import numpy as np

from . import OpDef, register
from .activation import same_shape


def _reference(op, args):
    return np.clip(args[0], np.float32(op.attrs["min"]), np.float32(op.attrs["max"])).astype(np.float32)


register(OpDef("clip", frozenset({"min", "max"}), (), same_shape, _reference))
