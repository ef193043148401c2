"""A Caffe net as the frontend sees it: the TEST-phase layer list in a uniform shape, whichever of
the two prototxt forms (`layer` LayerParameter or legacy `layers` V1LayerParameter) it uses.
"""
from dataclasses import dataclass

from ...errors import NnbuildError
from . import proto as caffe_proto

TEST = 1

# Legacy V1 enum name -> the modern type string (Caffe's UpgradeV1LayerType).
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN", "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}


@dataclass
class Layer:
    name: str
    type: str
    bottoms: list
    tops: list
    msg: object     # LayerParameter or V1LayerParameter (the *_param fields have the same names)
    line: int       # 1-based line in the prototxt, or None

    @property
    def where(self):
        at = f"line {self.line}, " if self.line else ""
        return f"{at}layer '{self.name}' ({self.type})"


def read_net(path):
    """Parse the prototxt; return (NetParameter, [Layer] of the TEST phase, in file order)."""
    net = caffe_proto.parse_prototxt(path)
    lines = caffe_proto.layer_lines(caffe_proto.read_text(path, "Caffe prototxt"))
    if net.layer and net.layers:
        raise NnbuildError("the net mixes 'layer' and legacy 'layers' blocks", file=path,
                           expected="one form only (Caffe refuses mixed nets too)")
    if net.layer:
        raw = [(m, m.type) for m in net.layer]
        line_list = lines["layer"]
    else:
        enum = caffe_proto.V1LayerParameter.DESCRIPTOR.enum_types_by_name["LayerType"]
        raw = [(m, V1_TYPES.get(enum.values_by_number[m.type].name, enum.values_by_number[m.type].name))
               for m in net.layers]
        line_list = lines["layers"]
    if not raw:
        raise NnbuildError("the prototxt declares no layers", file=path, expected="a Caffe net definition")
    state = (TEST, net.state.level if net.HasField("state") else 0,
             set(net.state.stage) if net.HasField("state") else set())
    layers = []
    for i, (m, type_name) in enumerate(raw):
        line = line_list[i] if i < len(line_list) else None
        name = m.name or f"{type_name.lower()}{i}"
        if not type_name:
            raise NnbuildError("layer has no type", file=path,
                               where=f"line {line}, layer '{name}'" if line else f"layer '{name}'")
        if included(m, state):
            layers.append(Layer(name, type_name, list(m.bottom), list(m.top), m, line))
    return net, layers


def included(msg, state):
    """Caffe's Net::FilterNet: include rules (any must match) or exclude rules (none may match)."""
    if msg.include:
        return any(_meets(rule, state) for rule in msg.include)
    return not any(_meets(rule, state) for rule in msg.exclude)


def _meets(rule, state):
    phase, level, stages = state
    if rule.HasField("phase") and rule.phase != phase:
        return False
    if rule.HasField("min_level") and level < rule.min_level:
        return False
    if rule.HasField("max_level") and level > rule.max_level:
        return False
    if any(s not in stages for s in rule.stage):
        return False
    return not any(s in stages for s in rule.not_stage)
