"""A softmax producing the only graph output is dropped and recorded as meta["output_softmax"]:
the model outputs logits (same top-k, cheaper and exact in 8 bits), and the application computes
probabilities from them when it wants percentages (app/postprocess.c)."""
import copy


def apply(graph):
    g = copy.deepcopy(graph)
    g.meta.setdefault("output_softmax", False)
    if len(g.outputs) != 1:
        return g
    soft = g.producer(g.outputs[0])
    if soft is None or soft.type != "softmax" or len(g.ops) <= 2:
        return g
    g.ops.remove(soft)
    del g.tensors[soft.outputs[0]]
    g.outputs = [soft.inputs[0]]
    g.meta["output_softmax"] = True
    return g
