"""The facts of TensorFlow Lite's flatbuffer schema (schema.fbs) that nnbuild's .tflite writer
needs, as named constants: the file identifier, the field slot of each table field it writes
(a flatbuffer table field is addressed by its declaration index), and enum values. Written from
the schema's meaning, not generated; tests check them against the schema module that TFLite
Micro ships. A later TFLite reader (issue 12) reads with the same numbers.
"""

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3                       # Model.version

# Placeholder that deprecated_builtin_code (int8) holds for operator codes >= 127.
PLACEHOLDER_FOR_GREATER_OP_CODES = 127


class Model:
    SLOTS = 10
    VERSION, OPERATOR_CODES, SUBGRAPHS, DESCRIPTION, BUFFERS = 0, 1, 2, 3, 4


class OperatorCode:
    SLOTS = 4
    DEPRECATED_BUILTIN_CODE, CUSTOM_CODE, VERSION, BUILTIN_CODE = 0, 1, 2, 3


class SubGraph:
    SLOTS = 6
    TENSORS, INPUTS, OUTPUTS, OPERATORS, NAME = 0, 1, 2, 3, 4


class Tensor:
    SLOTS = 11
    SHAPE, TYPE, BUFFER, NAME, QUANTIZATION = 0, 1, 2, 3, 4


class QuantizationParameters:
    SLOTS = 7
    MIN, MAX, SCALE, ZERO_POINT = 0, 1, 2, 3
    QUANTIZED_DIMENSION = 6


class Operator:
    SLOTS = 14
    OPCODE_INDEX, INPUTS, OUTPUTS, BUILTIN_OPTIONS_TYPE, BUILTIN_OPTIONS = 0, 1, 2, 3, 4


class Buffer:
    SLOTS = 3
    DATA = 0


class Conv2DOptions:
    SLOTS = 7
    PADDING, STRIDE_W, STRIDE_H, FUSED_ACTIVATION_FUNCTION, DILATION_W_FACTOR, DILATION_H_FACTOR = range(6)


class DepthwiseConv2DOptions:
    SLOTS = 7
    (PADDING, STRIDE_W, STRIDE_H, DEPTH_MULTIPLIER, FUSED_ACTIVATION_FUNCTION,
     DILATION_W_FACTOR, DILATION_H_FACTOR) = range(7)


class Pool2DOptions:
    SLOTS = 6
    PADDING, STRIDE_W, STRIDE_H, FILTER_WIDTH, FILTER_HEIGHT, FUSED_ACTIVATION_FUNCTION = range(6)


class FullyConnectedOptions:
    SLOTS = 6
    FUSED_ACTIVATION_FUNCTION, WEIGHTS_FORMAT, KEEP_NUM_DIMS = 0, 1, 2


class SoftmaxOptions:
    SLOTS = 1
    BETA = 0


class ConcatenationOptions:
    SLOTS = 2
    AXIS, FUSED_ACTIVATION_FUNCTION = 0, 1


class AddOptions:
    SLOTS = 2
    FUSED_ACTIVATION_FUNCTION = 0


class ReshapeOptions:
    SLOTS = 1
    NEW_SHAPE = 0


class PadOptions:
    SLOTS = 0


class PadV2Options:
    SLOTS = 0


class QuantizeOptions:
    SLOTS = 0


class BuiltinOperator:
    ADD = 0
    AVERAGE_POOL_2D = 1
    CONCATENATION = 2
    CONV_2D = 3
    DEPTHWISE_CONV_2D = 4
    FULLY_CONNECTED = 9
    LOGISTIC = 14
    MAX_POOL_2D = 17
    RELU = 19
    RESHAPE = 22
    SOFTMAX = 25
    TANH = 28
    PAD = 34
    PADV2 = 60
    QUANTIZE = 114


class BuiltinOptions:
    NONE = 0
    Conv2DOptions = 1
    DepthwiseConv2DOptions = 2
    Pool2DOptions = 5
    FullyConnectedOptions = 8
    SoftmaxOptions = 9
    ConcatenationOptions = 10
    AddOptions = 11
    ReshapeOptions = 17
    PadOptions = 22
    PadV2Options = 43
    QuantizeOptions = 89


class TensorType:
    FLOAT32 = 0
    INT32 = 2
    UINT8 = 3
    INT64 = 4
    INT8 = 9


class Padding:
    SAME = 0
    VALID = 1


class ActivationFunctionType:
    NONE = 0
    RELU = 1
    RELU_N1_TO_1 = 2
    RELU6 = 3
