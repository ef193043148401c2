"""What the C kernels need besides their input and output (docs/q7_contract.md, "Scratch").

The planner reserves these bytes in the arena for the op's lifetime; the code generator passes
the scratch pointer. The C side owns the numbers (nn_conv2d_q7_scratch_bytes,
nn_fc_q7_scratch_bytes, the same in every kernel variant so that one memory plan serves every
core); this is their Python mirror, checked against them by tests/test_scratch.py.
"""


def scratch_bytes(op, tensors):
    """Bytes of int16 scratch the kernel for `op` needs (0 if none)."""
    if op.type == "conv2d":
        kh, kw = op.attrs["kernel"]
        in_c = tensors[op.inputs[0]].shape[2]
        k = kh * kw * (in_c // op.attrs["group"])
        return 4 * (-(-k // 4) * 4)  # two int16 columns, each padded to whole 4-value blocks
    if op.type == "fully_connected":
        return 2 * tensors[op.inputs[0]].size
    return 0
