"""The TFLite schema facts now live in nnbuild/tflite_schema.py, shared by this package's writer
and the TFLite frontend's reader (which must not import the exporters registry: the import step
would then depend on the code generator and the quantizers)."""
from ..tflite_schema import *  # noqa: F401,F403
from ..tflite_schema import OPERATOR_NAMES, PLACEHOLDER_FOR_GREATER_OP_CODES  # noqa: F401
