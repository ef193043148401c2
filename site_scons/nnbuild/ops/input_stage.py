"""input_stage: uint8 pixels (H, W, C, in the model's channel order) -> (pixels - mean) * scale.
The mean is an (H, W, C) param; the graph starts with exactly one input_stage."""
import numpy as np

from . import OpDef, register
from .activation import same_shape


def _reference(op, args):
    mean = np.asarray(op.params.get("mean", 0.0), np.float32)
    return ((args[0].astype(np.float32) - mean) * np.float32(op.attrs["scale"])).astype(np.float32)


register(OpDef("input_stage", frozenset({"scale"}), ("mean",), same_shape, _reference, optional_params=("mean",)))
