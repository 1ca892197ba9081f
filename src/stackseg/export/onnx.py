"""Keras model -> ONNX bytes that are the same on every run.

Keras 3 `model.export(format="onnx")` converts through tf2onnx 1.17, which keeps batch,
height and width dynamic (one file serves every frame size) but names things with
process-wide counters: dimension parameters `unk__107`, nodes `Transpose__74`, constants
`const_axes__33` (deduplicated folded constants even swap names and order between two
exports in one process), and the graph's doc string holds the traced function's name
(`converted from b'__inference___call___211'`). Two exports of one model therefore differ
in bytes while computing the same thing, and dvc.lock (which records the file's md5) would
change on every `dvc repro`. `normalise` rewrites those names from the graph's structure:

1. the one input becomes `image`, the one output `probabilities`, with dimensions
   `batch`, `height`, `width` (the channel counts stay fixed numbers);
2. nodes keep their names minus tf2onnx's `__<n>` counters (`functional_1/conv2d/...`,
   readable in Netron), made unique in graph order; their outputs are `<node>:<i>`;
3. initializers (weights, folded constants) are named after the node that first reads
   them (`<node>/input<j>`) and stored in that order;
4. doc strings and intermediate shape annotations (`value_info`, which hold more counter
   dimensions; ONNX Runtime infers them again) are dropped, and the model card's contract
   (classes, threshold, size multiple) is added as metadata.

The producer (tf2onnx 1.17.0) and the opset stay: they are fixed by the installed versions.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
DYNAMIC_DIMS = ("batch", "height", "width")
GRAPH_NAME = "stackseg"
# tf2onnx's counter suffixes: `Transpose__74`, `convolution__6_shape__100`
_COUNTER = re.compile(r"__\d+")


def export_onnx(model: Any, path: Path, opset: int, multiple: int) -> None:
    """Write `model` as ONNX to `path` (tf2onnx's own bytes: see `normalise`)."""
    import numpy as np

    channels = int(model.inputs[0].shape[-1])
    # Keras refuses to export a model that has never been called ("The model provided has
    # never called"): one call on the smallest frame it takes
    model(np.zeros((1, multiple, multiple, channels), np.float32), training=False)
    # tf2onnx logs its optimiser's op counts at INFO: shown with -v only
    converter_log = logging.getLogger("tf2onnx")
    level = converter_log.level
    if not logging.getLogger("stackseg").isEnabledFor(logging.DEBUG):
        converter_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # tf2onnx 1.17 probes `np.object` (a FutureWarning on numpy 2): not the user's
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(path), format="onnx", opset_version=opset, verbose=False)
    finally:
        converter_log.setLevel(level)


class _Names:
    """Unique names in order of request: the first `x` is `x`, the next `x.1`, ..."""

    def __init__(self, taken: set[str] | None = None):
        self.taken = set(taken or ())

    def new(self, name: str) -> str:
        base = _COUNTER.sub("", name) or "t"
        candidate, k = base, 0
        while candidate in self.taken:
            k += 1
            candidate = f"{base}.{k}"
        self.taken.add(candidate)
        return candidate


def _has_subgraph(graph: Any) -> bool:
    import onnx

    return any(
        attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        for node in graph.node
        for attr in node.attribute
    )


def normalise(proto: Any, metadata: Mapping[str, str]) -> Any:
    """The model with run-independent names and no volatile text (steps in the module doc).

    Changes `proto` in place and returns it. Raises ValueError for a graph this does not
    handle (several inputs or outputs, control-flow subgraphs): a U-Net has neither.
    """
    graph = proto.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ValueError(
            f"expected one input and one output, got {len(graph.input)} and {len(graph.output)}"
        )
    if _has_subgraph(graph):
        # names inside a subgraph may refer to the outer graph's: not renamed here
        raise ValueError("the ONNX graph has control-flow subgraphs, which export cannot name")
    tensors = _Names({INPUT_NAME, OUTPUT_NAME})
    node_names = _Names()
    rename = {graph.input[0].name: INPUT_NAME, graph.output[0].name: OUTPUT_NAME}
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    used: list[Any] = []
    for node in graph.node:
        node.name = node_names.new(node.name)
        for j, name in enumerate(node.input):
            if name in initializers and name not in rename:
                # named after its first reader: tf2onnx's own constant names depend on
                # which of several equal folded constants it kept
                rename[name] = tensors.new(f"{node.name}/input{j}")
                used.append(initializers[name])
        for i, name in enumerate(node.output):
            if name and name not in rename:
                rename[name] = tensors.new(f"{node.name}:{i}")
        node.doc_string = ""
    for node in graph.node:
        node.input[:] = [rename.get(name, name) for name in node.input]
        node.output[:] = [rename.get(name, name) for name in node.output]
    # initializers in first-use order; any no node reads are dropped
    for tensor in used:
        tensor.name = rename[tensor.name]
    kept = [_copy(tensor) for tensor in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    for value, name in ((graph.input[0], INPUT_NAME), (graph.output[0], OUTPUT_NAME)):
        value.name = name
        dims = value.type.tensor_type.shape.dim
        for dim, dim_name in zip(dims, DYNAMIC_DIMS, strict=False):
            if not dim.HasField("dim_value"):
                dim.dim_param = dim_name
        value.doc_string = ""
    del graph.value_info[:]
    graph.name = GRAPH_NAME
    graph.doc_string = ""
    proto.doc_string = ""
    del proto.metadata_props[:]
    for key, value in sorted(metadata.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto


def _copy(tensor: Any) -> Any:
    copied = type(tensor)()
    copied.CopyFrom(tensor)
    return copied


def normalised_bytes(path: Path, metadata: Mapping[str, str]) -> bytes:
    """The ONNX file at `path`, normalised and checked, as deterministic bytes."""
    import onnx

    proto = normalise(onnx.load(str(path)), metadata)
    onnx.checker.check_model(proto)
    return proto.SerializeToString(deterministic=True)
