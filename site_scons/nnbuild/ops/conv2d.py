"""conv2d: weight (O, KH, KW, I/group), bias (O,); Caffe/standard floor-mode output size.
`activation` ("none" or "relu") is set by the fuse_activation pass."""
import numpy as np

from .. import ir
from ..windows import grouped_conv, pair
from . import OpDef, register
from .activation import apply_activation


def _shape(op, in_shapes):
    h, w, _ = in_shapes[0]
    a = op.attrs
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(a[k]) for k in ("kernel", "stride", "pad", "dilation"))
    return (ir.conv_output_size(h, kh, sh, ph, dh), ir.conv_output_size(w, kw, sw, pw, dw),
            int(np.shape(op.params["weight"])[0]))


def _reference(op, args):
    a = op.attrs
    y = grouped_conv(args[0], np.asarray(op.params["weight"], np.float32), a["stride"], a["pad"],
                     a.get("dilation", 1), a.get("group", 1), np.float32)
    y += np.asarray(op.params["bias"], np.float32)      # y is a fresh array: same float32 sums
    return apply_activation(op, y)


register(OpDef("conv2d", frozenset({"kernel", "stride", "pad", "dilation", "group"}), ("weight", "bias"),
               _shape, _reference))
