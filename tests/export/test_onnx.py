"""export.onnx on a small Keras model: names from the structure, bytes identical run to run."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.export import onnx as export_onnx

METADATA = {"stackseg.classes": '["a", "b"]', "stackseg.size_multiple": "4"}


@pytest.fixture(scope="module")
def small_model():
    keras = pytest.importorskip("keras")
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2DTranspose(4, 2, strides=2)(x)
    outputs = keras.layers.Conv2D(2, 1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.slow
def test_two_exports_in_one_process_give_the_same_bytes(small_model, tmp_path):
    onnx = pytest.importorskip("onnx")
    raw = []
    for name in ("first.onnx", "second.onnx"):
        export_onnx.export_onnx(small_model, tmp_path / name, opset=17, multiple=4)
        raw.append((tmp_path / name).read_bytes())
    # the premise: tf2onnx's own files differ (its name counters run on in a process)
    assert raw[0] != raw[1]
    first, second = (
        export_onnx.normalised_bytes(tmp_path / name, METADATA)
        for name in ("first.onnx", "second.onnx")
    )
    assert first == second

    model = onnx.load_from_string(first)
    graph = model.graph
    (image,), (output,) = graph.input, graph.output
    assert (image.name, output.name) == ("image", "probabilities")

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert dims(image) == ["batch", "height", "width", 1]
    assert dims(output) == ["batch", "height", "width", 2]
    assert {p.key: p.value for p in model.metadata_props} == METADATA
    assert not graph.doc_string and not graph.value_info and graph.name == "stackseg"
    # no tf2onnx counters left anywhere in the names
    names = [n.name for n in graph.node] + [t.name for t in graph.initializer]
    assert not [name for name in names if export_onnx._COUNTER.search(name)]
    assert model.opset_import[0].version == 17


@pytest.mark.slow
def test_normalised_model_computes_what_keras_does(small_model, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "m.onnx"
    export_onnx.export_onnx(small_model, path, opset=17, multiple=4)
    session = ort.InferenceSession(export_onnx.normalised_bytes(path, METADATA))
    batch = np.random.default_rng(0).random((2, 12, 20, 1), dtype=np.float32)
    (onnx_out,) = session.run(None, {"image": batch})
    keras_out = np.asarray(small_model(batch, training=False))
    assert onnx_out.shape == (2, 12, 20, 2)
    assert np.max(np.abs(onnx_out - keras_out)) < 1e-5


def test_a_graph_of_two_inputs_is_refused():
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])
    out = helper.make_tensor_value_info("c", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "g", [a, b], [out])
    with pytest.raises(ValueError, match="expected one input and one output, got 2 and 1"):
        export_onnx.normalise(helper.make_model(graph), {})


def test_unique_names_drop_counters():
    names = export_onnx._Names({"image"})
    assert [names.new(n) for n in ("Transpose__74", "Transpose__90", "conv__6_shape__100")] == [
        "Transpose",
        "Transpose.1",
        "conv_shape",
    ]
    assert names.new("image") == "image.1"
