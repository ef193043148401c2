"""The subset of Caffe's protobuf schema (caffe.proto) that the frontend reads, built at import
time so that no protoc and no generated _pb2 module is needed.

The schema is written below in proto2 syntax and turned into a FileDescriptorProto by a tiny
parser (only what this text uses: messages, nested enums, optional/repeated fields, defaults,
[packed]). Field numbers are those of BVLC Caffe; fields we never read are left out: binary
files keep them as unknown fields, text files skip them (see parse_prototxt).
"""
import re

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.message import DecodeError

from ...errors import NnbuildError, read_user_file

SCHEMA = """
enum Phase { TRAIN = 0; TEST = 1; }

message BlobShape { repeated int64 dim = 1 [packed = true]; }

message BlobProto {
  optional BlobShape shape = 7;
  repeated float data = 5 [packed = true];
  repeated float diff = 6 [packed = true];
  repeated double double_data = 8 [packed = true];
  repeated double double_diff = 9 [packed = true];
  optional int64 num = 1 [default = 0];
  optional int64 channels = 2 [default = 0];
  optional int64 height = 3 [default = 0];
  optional int64 width = 4 [default = 0];
}

message BlobProtoVector { repeated BlobProto blobs = 1; }

message NetState {
  optional Phase phase = 1 [default = TEST];
  optional int32 level = 2 [default = 0];
  repeated string stage = 3;
}

message NetStateRule {
  optional Phase phase = 1;
  optional int32 min_level = 2;
  optional int32 max_level = 3;
  repeated string stage = 4;
  repeated string not_stage = 5;
}

message NetParameter {
  optional string name = 1;
  repeated string input = 3;
  repeated BlobShape input_shape = 8;
  repeated int32 input_dim = 4;
  optional bool force_backward = 5 [default = false];
  optional NetState state = 6;
  optional bool debug_info = 7 [default = false];
  repeated LayerParameter layer = 100;
  repeated V1LayerParameter layers = 2;
}

message TransformationParameter {
  optional float scale = 1 [default = 1];
  optional bool mirror = 2 [default = false];
  optional uint32 crop_size = 3 [default = 0];
  optional string mean_file = 4;
  repeated float mean_value = 5;
  optional bool force_color = 6 [default = false];
  optional bool force_gray = 7 [default = false];
}

message BatchNormParameter {
  optional bool use_global_stats = 1;
  optional float moving_average_fraction = 2 [default = 0.999];
  optional float eps = 3 [default = 1e-5];
}

message ConcatParameter {
  optional int32 axis = 2 [default = 1];
  optional uint32 concat_dim = 1 [default = 1];
}

message ConvolutionParameter {
  optional uint32 num_output = 1;
  optional bool bias_term = 2 [default = true];
  repeated uint32 pad = 3;
  repeated uint32 kernel_size = 4;
  repeated uint32 stride = 6;
  repeated uint32 dilation = 18;
  optional uint32 pad_h = 9 [default = 0];
  optional uint32 pad_w = 10 [default = 0];
  optional uint32 kernel_h = 11;
  optional uint32 kernel_w = 12;
  optional uint32 stride_h = 13;
  optional uint32 stride_w = 14;
  optional uint32 group = 5 [default = 1];
  optional int32 axis = 16 [default = 1];
  optional bool force_nd_im2col = 17 [default = false];
}

message DataParameter {
  enum DB { LEVELDB = 0; LMDB = 1; }
  optional string source = 1;
  optional uint32 batch_size = 4;
  optional uint32 rand_skip = 7 [default = 0];
  optional DB backend = 8 [default = LEVELDB];
  optional float scale = 2 [default = 1];
  optional string mean_file = 3;
  optional uint32 crop_size = 5 [default = 0];
  optional bool mirror = 6 [default = false];
}

message DropoutParameter { optional float dropout_ratio = 1 [default = 0.5]; }

message EltwiseParameter {
  enum EltwiseOp { PROD = 0; SUM = 1; MAX = 2; }
  optional EltwiseOp operation = 1 [default = SUM];
  repeated float coeff = 2;
  optional bool stable_prod_grad = 3 [default = true];
}

message FlattenParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 end_axis = 2 [default = -1];
}

message HDF5DataParameter {
  optional string source = 1;
  optional uint32 batch_size = 2;
  optional bool shuffle = 3 [default = false];
}

message ImageDataParameter {
  optional string source = 1;
  optional uint32 batch_size = 4 [default = 1];
  optional uint32 rand_skip = 7 [default = 0];
  optional bool shuffle = 8 [default = false];
  optional uint32 new_height = 9 [default = 0];
  optional uint32 new_width = 10 [default = 0];
  optional bool is_color = 11 [default = true];
  optional float scale = 2 [default = 1];
  optional string mean_file = 3;
  optional uint32 crop_size = 5 [default = 0];
  optional bool mirror = 6 [default = false];
  optional string root_folder = 12 [default = ""];
}

message InnerProductParameter {
  optional uint32 num_output = 1;
  optional bool bias_term = 2 [default = true];
  optional int32 axis = 5 [default = 1];
  optional bool transpose = 6 [default = false];
}

message InputParameter { repeated BlobShape shape = 1; }

message MemoryDataParameter {
  optional uint32 batch_size = 1;
  optional uint32 channels = 2;
  optional uint32 height = 3;
  optional uint32 width = 4;
}

message PoolingParameter {
  enum PoolMethod { MAX = 0; AVE = 1; STOCHASTIC = 2; }
  enum RoundMode { CEIL = 0; FLOOR = 1; }
  optional PoolMethod pool = 1 [default = MAX];
  optional uint32 pad = 4 [default = 0];
  optional uint32 pad_h = 9 [default = 0];
  optional uint32 pad_w = 10 [default = 0];
  optional uint32 kernel_size = 2;
  optional uint32 kernel_h = 5;
  optional uint32 kernel_w = 6;
  optional uint32 stride = 3 [default = 1];
  optional uint32 stride_h = 7;
  optional uint32 stride_w = 8;
  optional bool global_pooling = 12 [default = false];
  optional RoundMode round_mode = 13 [default = CEIL];
}

message ReLUParameter { optional float negative_slope = 1 [default = 0]; }

message ReshapeParameter {
  optional BlobShape shape = 1;
  optional int32 axis = 2 [default = 0];
  optional int32 num_axes = 3 [default = -1];
}

message LRNParameter {
  optional uint32 local_size = 1 [default = 5];
  optional float alpha = 2 [default = 1.];
  optional float beta = 3 [default = 0.75];
  enum NormRegion { ACROSS_CHANNELS = 0; WITHIN_CHANNEL = 1; }
  optional NormRegion norm_region = 4 [default = ACROSS_CHANNELS];
  optional float k = 5 [default = 1.];
}

message PReLUParameter { optional bool channel_shared = 2 [default = false]; }

message BiasParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 num_axes = 2 [default = 1];
}

message ScaleParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 num_axes = 2 [default = 1];
  optional bool bias_term = 4 [default = false];
}

message SoftmaxParameter { optional int32 axis = 2 [default = 1]; }

message LayerParameter {
  optional string name = 1;
  optional string type = 2;
  repeated string bottom = 3;
  repeated string top = 4;
  optional Phase phase = 10;
  repeated float loss_weight = 5;
  repeated BlobProto blobs = 7;
  repeated NetStateRule include = 8;
  repeated NetStateRule exclude = 9;
  optional TransformationParameter transform_param = 100;
  optional BatchNormParameter batch_norm_param = 139;
  optional ConcatParameter concat_param = 104;
  optional ConvolutionParameter convolution_param = 106;
  optional DataParameter data_param = 107;
  optional DropoutParameter dropout_param = 108;
  optional EltwiseParameter eltwise_param = 110;
  optional FlattenParameter flatten_param = 135;
  optional HDF5DataParameter hdf5_data_param = 112;
  optional ImageDataParameter image_data_param = 115;
  optional InnerProductParameter inner_product_param = 117;
  optional InputParameter input_param = 143;
  optional MemoryDataParameter memory_data_param = 119;
  optional PoolingParameter pooling_param = 121;
  optional ReLUParameter relu_param = 123;
  optional ReshapeParameter reshape_param = 133;
  optional ScaleParameter scale_param = 142;
  optional SoftmaxParameter softmax_param = 125;
  optional LRNParameter lrn_param = 118;
  optional PReLUParameter prelu_param = 131;
  optional BiasParameter bias_param = 141;
}

message V1LayerParameter {
  enum LayerType {
    NONE = 0; ABSVAL = 35; ACCURACY = 1; ARGMAX = 30; BNLL = 2; CONCAT = 3;
    CONTRASTIVE_LOSS = 37; CONVOLUTION = 4; DATA = 5; DECONVOLUTION = 39; DROPOUT = 6;
    DUMMY_DATA = 32; EUCLIDEAN_LOSS = 7; ELTWISE = 25; EXP = 38; FLATTEN = 8; HDF5_DATA = 9;
    HDF5_OUTPUT = 10; HINGE_LOSS = 28; IM2COL = 11; IMAGE_DATA = 12; INFOGAIN_LOSS = 13;
    INNER_PRODUCT = 14; LRN = 15; MEMORY_DATA = 29; MULTINOMIAL_LOGISTIC_LOSS = 16; MVN = 34;
    POOLING = 17; POWER = 26; RELU = 18; SIGMOID = 19; SIGMOID_CROSS_ENTROPY_LOSS = 27;
    SILENCE = 36; SOFTMAX = 20; SOFTMAX_LOSS = 21; SPLIT = 22; SLICE = 33; TANH = 23;
    WINDOW_DATA = 24; THRESHOLD = 31;
  }
  repeated string bottom = 2;
  repeated string top = 3;
  optional string name = 4;
  repeated NetStateRule include = 32;
  repeated NetStateRule exclude = 33;
  optional LayerType type = 5;
  repeated BlobProto blobs = 6;
  optional ConcatParameter concat_param = 9;
  optional ConvolutionParameter convolution_param = 10;
  optional DataParameter data_param = 11;
  optional DropoutParameter dropout_param = 12;
  optional EltwiseParameter eltwise_param = 24;
  optional HDF5DataParameter hdf5_data_param = 13;
  optional ImageDataParameter image_data_param = 15;
  optional InnerProductParameter inner_product_param = 17;
  optional LRNParameter lrn_param = 18;
  optional MemoryDataParameter memory_data_param = 22;
  optional PoolingParameter pooling_param = 19;
  optional ReLUParameter relu_param = 30;
  optional SoftmaxParameter softmax_param = 39;
  optional TransformationParameter transform_param = 36;
}
"""

_SCALARS = {
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "float": descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "uint32": descriptor_pb2.FieldDescriptorProto.TYPE_UINT32,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
}

_TOKEN = re.compile(r'"[^"]*"|[A-Za-z_][A-Za-z0-9_.]*|-?[0-9][0-9.eE+-]*|[{}=;\[\]]')


def _build_file_descriptor(schema, package="caffe"):
    """proto2 text (the subset above) -> FileDescriptorProto."""
    toks = _TOKEN.findall(schema)
    pos = 0

    def take(expected=None):
        nonlocal pos
        tok = toks[pos]
        pos += 1
        if expected is not None and tok != expected:
            raise ValueError(f"schema: expected {expected!r}, got {tok!r}")
        return tok

    def parse_enum(enum_proto):
        enum_proto.name = take()
        take("{")
        while toks[pos] != "}":
            value = enum_proto.value.add(name=take())
            take("=")
            value.number = int(take())
            take(";")
        take("}")

    fdp = descriptor_pb2.FileDescriptorProto(name="nnbuild_caffe.proto", package=package, syntax="proto2")
    pending = []  # (field proto, type name, enclosing message name) to resolve once all are known
    while pos < len(toks):
        kind = take()
        if kind == "enum":
            parse_enum(fdp.enum_type.add())
            continue
        msg = fdp.message_type.add(name=take())
        take("{")
        while toks[pos] != "}":
            if toks[pos] == "enum":
                take()
                parse_enum(msg.enum_type.add())
                continue
            label, type_name, name = take(), take(), take()
            take("=")
            field = msg.field.add(name=name, number=int(take()))
            field.label = (descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED if label == "repeated"
                           else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
            if toks[pos] == "[":
                take()
                while toks[pos] != "]":
                    opt = take()
                    take("=")
                    val = take()
                    if opt == "packed":
                        field.options.packed = val == "true"
                    elif opt == "default":
                        field.default_value = val.strip('"')
                    if toks[pos] == ",":
                        take()
                take("]")
            take(";")
            if type_name in _SCALARS:
                field.type = _SCALARS[type_name]
            else:
                pending.append((field, type_name, msg))
        take("}")

    top_enums = {e.name for e in fdp.enum_type}
    for field, type_name, msg in pending:
        if type_name in {e.name for e in msg.enum_type}:
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_ENUM
            field.type_name = f".{package}.{msg.name}.{type_name}"
        elif type_name in top_enums:
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_ENUM
            field.type_name = f".{package}.{type_name}"
        else:
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
            field.type_name = f".{package}.{type_name}"
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_build_file_descriptor(SCHEMA))


def _message_class(name):
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName("caffe." + name))


NetParameter = _message_class("NetParameter")
LayerParameter = _message_class("LayerParameter")
V1LayerParameter = _message_class("V1LayerParameter")
BlobProto = _message_class("BlobProto")
BlobProtoVector = _message_class("BlobProtoVector")


def parse_prototxt(path):
    """Read a text NetParameter. Fields outside our subset are skipped (they belong to layers or
    options we do not use, or to Caffe forks); a syntax error names line:column."""
    text = read_text(path, "Caffe prototxt")
    check_nesting(text, path)
    net = NetParameter()
    try:
        text_format.Parse(text, net, allow_unknown_field=True, allow_unknown_extension=True)
    except text_format.ParseError as e:
        line, col = e.GetLine(), e.GetColumn()
        msg = str(e)
        # ParseError's text starts with "line:col : "; keep only the explanation.
        msg = re.sub(r"^\d+:\d+\s*:\s*", "", msg)
        where = f"line {line}, column {col}" if line else None
        raise NnbuildError(f"malformed prototxt: {msg}", file=path, where=where,
                           expected="Caffe NetParameter text format") from None
    return net


# Reads stop here: /dev/zero or a runaway file is refused instead of filling memory. Protobuf
# itself refuses messages over 2 GiB; no Caffe prototxt comes near 64 MiB.
MAX_BINARY_BYTES = 2 << 30
MAX_TEXT_BYTES = 64 << 20


def parse_binary(path, message_class, what):
    """Read a binary protobuf file (caffemodel, mean.binaryproto)."""
    data = read_user_file(path, MAX_BINARY_BYTES, what)
    msg = message_class()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise NnbuildError(f"corrupt or truncated {what}: {e}", file=path,
                           expected=f"a binary {message_class.DESCRIPTOR.name} protobuf") from None
    return msg


# Deeper than any Caffe net needs (layer > param > filler is 3); text_format recurses per level.
MAX_NESTING = 64
_STRUCTURE = re.compile(r"#[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|[{}<>\n]")


def check_nesting(text, path):
    """Refuse blocks nested deeper than MAX_NESTING before the recursive parser sees them."""
    depth, line = 0, 1
    for m in _STRUCTURE.finditer(text):
        c = m.group()
        if c == "\n":
            line += 1
        elif c in "{<":
            depth += 1
            if depth > MAX_NESTING:
                raise NnbuildError(f"blocks nested more than {MAX_NESTING} deep", file=path,
                                   where=f"line {line}", expected="a Caffe net definition")
        elif c in "}>":
            depth -= 1


def read_text(path, what):
    data = read_user_file(path, MAX_TEXT_BYTES, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise NnbuildError(f"{what} is not UTF-8 text (byte 0x{data[e.start]:02x})", file=path,
                           where=f"line {line}", expected="a text file") from None


def layer_lines(text):
    """1-based line of each top-level `layer {` / `layers {` block, in file order.

    text_format keeps no positions; the N-th block in the file is the N-th element of the
    repeated field, so this lets errors name the line of a layer."""
    lines = {"layer": [], "layers": []}
    depth = 0
    line = 1
    i = 0
    last_ident = None
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif c in "\"'":
            end = i + 1
            while end < n and text[end] != c:
                end += 2 if text[end] == "\\" else 1
            line += text.count("\n", i, end)
            i = end + 1
            continue
        elif c in "{<":
            if depth == 0 and last_ident and last_ident[0] in lines:
                lines[last_ident[0]].append(last_ident[1])
            depth += 1
            last_ident = None
        elif c in "}>":
            depth -= 1
            last_ident = None
        elif c.isalpha() or c == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            last_ident = (text[start:i], line)
            continue
        elif c not in " \t\r:":
            last_ident = None
        i += 1
    return lines
