"""clip in q7 is an int8 clamp in the input's format: the same C kernel as int8's relu
(nn_clamp_s8, in place), which reads nothing scheme-specific."""
from . import Kernel, register
from .s8_elementwise import emit_clamp, lower_clamp

register(Kernel("clip", "q7", "nn_clamp_s8", lower_clamp, emit_clamp, inplace=(0,)))
