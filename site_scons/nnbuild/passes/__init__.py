"""Graph rewrites, each exact (the float result is unchanged up to float32 rounding of folded
weights), each a pure function graph -> new graph, each in a module of its own.

The pipeline runs FLOAT_PASSES on every imported graph, in this order, before quantization:
  fold_affine            BatchNorm/Scale/Bias folded into the conv / fc before them
  strip_output_softmax   a softmax ending the net is recorded as meta["output_softmax"]
  relu_before_max_pool   max_pool -> relu becomes relu -> max_pool (a signed range becomes
                         non-negative: one more bit for 8-bit formats, and the ReLU can fuse)
  fuse_activation        a ReLU that alone reads a conv / fc output becomes its `activation`
"""
from . import fold_affine, fuse_activation, relu_before_max_pool, strip_output_softmax

FLOAT_PASSES = (fold_affine.apply, strip_output_softmax.apply, relu_before_max_pool.apply,
                fuse_activation.apply)


def run(graph, passes=FLOAT_PASSES):
    """Apply `passes` in order; returns a new, validated graph (the input is not modified)."""
    for p in passes:
        graph = p(graph)
    return graph.validate()
