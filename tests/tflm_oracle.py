"""The test oracle of the int8 scheme: TensorFlow Lite Micro's reference interpreter (PyPI
`tflite-micro`) running a .tflite file, one image at a time (TFLM models have batch 1).

    outs = run_tflm(model_bytes, x)      # x: int8 (N, H, W, C) -> int8 (N, ...) of the first output
"""
import numpy as np


def arena_bytes(model):
    """An arena that holds every tensor of the model at 4 bytes a value, plus TFLM's own data."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    sg = fb.Model.GetRootAsModel(bytes(model), 0).Subgraphs(0)
    values = sum(int(np.prod(sg.Tensors(i).ShapeAsNumpy())) for i in range(sg.TensorsLength()))
    return 4 * values + (1 << 20)


def _interpreter(model, arena_size=None):
    from tflite_micro import runtime

    return runtime.Interpreter.from_bytes(bytes(model), arena_size=arena_size or arena_bytes(model))


def run_tflm(model, inputs, output_index=0, arena_size=None):
    """int8 outputs of `model` (.tflite bytes) for a batch of int8 inputs (N, ...).

    Each image is set as input 0 and the interpreter invoked once; returns the stacked
    `output_index` outputs as int8 (N, *output shape without the batch dimension)."""
    inputs = np.asarray(inputs)
    if inputs.dtype != np.int8:
        raise TypeError(f"TFLM oracle inputs must be int8, not {inputs.dtype}")
    interp = _interpreter(model, arena_size)
    in_shape = tuple(interp.get_input_details(0)["shape"])
    outs = []
    for x in inputs:
        interp.set_input(x.reshape(in_shape), 0)
        interp.invoke()
        out = np.array(interp.get_output(output_index), copy=True)
        if out.dtype != np.int8:
            raise TypeError(f"TFLM output is {out.dtype}, expected int8")
        outs.append(out.reshape(out.shape[1:]))
    return np.stack(outs) if outs else np.zeros((0,), np.int8)


def details(model):
    """(input details, output details) of input/output 0 as TFLM reports them."""
    interp = _interpreter(model)
    return interp.get_input_details(0), interp.get_output_details(0)
