"""Model importers: each turns a framework's files into an ir.Graph.

load_model(entry) is what the rest of the project calls with a manifest ModelEntry.
"""
from ..errors import NnbuildError

FORMATS = ("caffe",)


def load_model(entry):
    """Import the model a manifest entry describes; the graph's name is the entry's name and
    its meta carries the labels (if any)."""
    entry.check_files()
    if entry.format == "caffe":
        from .caffe import load_caffe

        inp = entry.input
        graph = load_caffe(entry.prototxt, entry.weights, input_shape=inp.shape,
                           mean=inp.mean_file if inp.mean_file is not None else inp.mean,
                           scale=inp.scale, channel_order=inp.channel_order, name=entry.name)
    else:
        raise NnbuildError(f"unknown model format '{entry.format}'", file=entry.manifest,
                           where=f"model '{entry.name}'", expected="one of " + ", ".join(FORMATS))
    if entry.labels is not None:
        out_n = graph.tensors[graph.outputs[0]].size
        if len(entry.labels) != out_n:
            raise NnbuildError(f"{len(entry.labels)} labels for a model with {out_n} outputs",
                               file=entry.labels_file or entry.manifest,
                               where=entry.where("labels"),
                               expected=f"{out_n} labels, one per output")
        graph.meta["labels"] = list(entry.labels)
    return graph
