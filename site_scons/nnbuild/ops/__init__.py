"""The op registry: every IR op type is declared once, in one module of this package.

An `OpDef` holds what is true of an op whatever the model format or quantization scheme:
its required attributes, its param names, its shape rule and its float reference. The IR
validator, the frontends (through `infer_shape`), the float executor and the passes read this
table; nothing else switches on op type names. Quantization schemes (`nnbuild.quantize.<scheme>`)
and kernels (`nnbuild.kernels`) keep their own per-op tables keyed by the same names.

Adding an op = adding a module here that calls `register(OpDef(...))`: modules are discovered.
"""
import importlib
import pkgutil
from dataclasses import dataclass

from ..errors import NnbuildError


@dataclass(frozen=True)
class OpDef:
    type: str
    attrs: frozenset            # required attribute names
    params: tuple               # param names (arrays)
    shape: object               # shape(op, in_shapes) -> (H, W, C) of the output
    reference: object           # reference(op, args) -> float output (batched NHWC arrays)
    n_inputs: object = 1        # an int, or None for "one or more"
    optional_params: tuple = ()  # params the reference can do without


_REGISTRY = {}


def register(opdef):
    if opdef.type in _REGISTRY:
        raise AssertionError(f"op type {opdef.type!r} registered twice")
    _REGISTRY[opdef.type] = opdef
    return opdef


def _discover():
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{mod}")


def get(op_type, where=None):
    """The OpDef of `op_type`, or a clear error listing the known types."""
    try:
        return _REGISTRY[op_type]
    except KeyError:
        raise NnbuildError(f"unknown op type '{op_type}'", where=where,
                           expected="one of " + ", ".join(types())) from None


def types():
    return sorted(_REGISTRY)


def infer_shape(op, in_shapes):
    """Output shape of `op` for input shapes `in_shapes` (each (H, W, C))."""
    d = get(op.type, where=f"op '{op.name}'")
    return tuple(int(s) for s in d.shape(op, [tuple(s) for s in in_shapes]))


def check(op, in_shapes, float_params=True):
    """Check one op against its declaration: attributes, params (of a float graph: a quantized
    one carries its scheme's), input count, and that its output shape is what the shape rule
    gives for `in_shapes`. Returns the output shape."""
    where = f"op '{op.name}' ({op.type})"
    d = get(op.type, where=where)
    missing = d.attrs - set(op.attrs)
    if missing:
        raise NnbuildError(f"missing attributes {sorted(missing)}", where=where)
    if d.n_inputs is not None and len(op.inputs) != d.n_inputs:
        raise NnbuildError(f"{len(op.inputs)} inputs", where=where, expected=f"{d.n_inputs}")
    if not op.inputs:
        raise NnbuildError("no inputs", where=where, expected="at least one input")
    absent = [p for p in d.params if p not in op.params and p not in d.optional_params]
    if float_params and absent:
        raise NnbuildError(f"missing params {absent}", where=where)
    return tuple(int(s) for s in d.shape(op, [tuple(s) for s in in_shapes]))


def run_reference(op, args):
    return get(op.type, where=f"op '{op.name}'").reference(op, args)


_discover()
