"""A plain ReLU that is the only reader of a conv2d / fully_connected output becomes that op's
`activation: relu`: relu(conv(x)) computed in one kernel (8-bit schemes clamp at zero when they
requantize). The fused op is named "<conv>+<relu>" and writes the ReLU's output tensor, so
generated code and reports show both layer names."""
import copy

from ._graph import bypass, sole_reader

FUSES_INTO = ("conv2d", "fully_connected")


def apply(graph):
    g = copy.deepcopy(graph)
    for relu in list(g.ops):
        if relu.type != "relu" or float(relu.attrs.get("negative_slope", 0.0)) != 0.0:
            continue
        prod = g.producer(relu.inputs[0])
        if prod is None or prod.type not in FUSES_INTO or sole_reader(g, relu.inputs[0]) is not relu \
                or prod.attrs.get("activation", "none") != "none":
            continue
        prod.attrs["activation"] = "relu"
        prod.name = f"{prod.name}+{relu.name}"
        bypass(g, relu)
    return g
