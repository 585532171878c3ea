"""Open Inference Protocol (V2) tensors, without Flask: request -> rows, prediction -> outputs.

Two input shapes are accepted:

- one input per feature (the "pd" table convention, `"parameters": {"content_type": "pd"}`),
  each of shape `[n]` or `[n, 1]`;
- one `[n, k]` numeric tensor holding the `k` features in manifest order (numeric models only).

Tensor data may be JSON (flat or nested, row-major) or binary (the `binary_tensor_data`
extension: a JSON header of `Inference-Header-Content-Length` bytes, then the raw tensors).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..runtime.predictor import Prediction
from ..runtime.registry import LoadedModel

NUMPY_TYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
DATATYPES = (*NUMPY_TYPES, "BYTES")
TENSOR_TYPES = ("FP32", "FP64")


class TensorError(ValueError):
    """The request breaks the protocol; the message says how (a 400 answer)."""


@dataclass(frozen=True)
class Tensor:
    """One named tensor: its type, shape and values, flattened row-major."""

    name: str
    datatype: str
    shape: list[int]
    values: list[Any]


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON inference request and the binary tensor data that follows it."""
    size = len(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > size:
            raise TensorError("Inference-Header-Content-Length is not a length within the body")
        size = int(header_length)
    try:
        request = json.loads(body[:size].decode("utf-8"), parse_constant=lambda _: math.nan)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise TensorError(f"the inference request is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise TensorError("the inference request must be a JSON object")
    return request, body[size:]


def read_inputs(request: dict[str, Any], blob: bytes) -> list[Tensor]:
    """The request's `inputs`, each checked against its datatype and shape."""
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TensorError("'inputs' must be a non-empty list of tensors")
    tensors, offset = [], 0
    for item in inputs:
        tensor, offset = _read_input(item, blob, offset)
        tensors.append(tensor)
    if offset != len(blob):
        raise TensorError(f"{len(blob) - offset} bytes of binary data belong to no input")
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise TensorError("two inputs share a name")
    return tensors


def _read_input(item: Any, blob: bytes, offset: int) -> tuple[Tensor, int]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise TensorError("each input must be an object with a 'name'")
    name, datatype, shape = item["name"], item.get("datatype"), item.get("shape")
    if datatype not in DATATYPES:
        raise TensorError(f"input '{name}': datatype must be one of {', '.join(DATATYPES)}")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape) and shape):
        raise TensorError(f"input '{name}': shape must be a list of non-negative integers")
    size = parameters_of(item, f"input '{name}'").get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(blob):
            raise TensorError(f"input '{name}': binary_data_size exceeds the binary data")
        values = _from_binary(name, datatype, blob[offset : offset + size])
        offset += size
    else:
        values = _flatten(item.get("data"), name)
    if len(values) != math.prod(shape):
        raise TensorError(f"input '{name}': {len(values)} values do not fill shape {shape}")
    return Tensor(name, datatype, shape, values), offset


def parameters_of(item: dict[str, Any], where: str) -> dict[str, Any]:
    """The `parameters` object of a request, input or output (empty when absent)."""
    parameters = item.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise TensorError(f"{where}: 'parameters' must be an object")
    return parameters


def _flatten(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise TensorError(f"input '{name}': 'data' must be a list")
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:  # iterative: a deeply nested body cannot exhaust the Python stack
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def _from_binary(name: str, datatype: str, raw: bytes) -> list[Any]:
    if datatype != "BYTES":
        dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
        if len(raw) % dtype.itemsize:
            raise TensorError(f"input '{name}': {len(raw)} bytes are not whole {datatype} values")
        values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
        return values
    strings, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise TensorError(f"input '{name}': truncated BYTES element")
        (length,) = struct.unpack_from("<I", raw, offset)
        element = raw[offset + 4 : offset + 4 + length]
        if len(element) != length:
            raise TensorError(f"input '{name}': truncated BYTES element")
        try:
            strings.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            raise TensorError(f"input '{name}': a BYTES element is not UTF-8") from None
        offset += 4 + length
    return strings


def to_rows(tensors: Sequence[Tensor], model: LoadedModel) -> list[dict[str, Any]]:
    """Rows keyed by feature name: from one `[n, k]` tensor or from one input per feature."""
    names = model.schema.names
    first = tensors[0]
    if len(tensors) == 1 and first.name not in names and len(first.shape) == 2:
        return _tensor_rows(first, model)
    lengths = {t.shape[0] for t in tensors}
    if len(lengths) != 1 or any(math.prod(t.shape[1:]) != 1 for t in tensors):
        raise TensorError("send one input per feature, each of shape [n] or [n, 1], same n")
    (n,) = lengths
    if n == 0:
        raise TensorError("the inputs hold no rows")
    return [{t.name: t.values[i] for t in tensors} for i in range(n)]


def _tensor_rows(tensor: Tensor, model: LoadedModel) -> list[dict[str, Any]]:
    names = model.schema.names
    text = [f.name for f in model.manifest.features if not f.numeric]
    if text:
        raise TensorError(
            f"model '{model.name}' has non-numeric features ({', '.join(text)}): "
            "send one input per feature"
        )
    n, k = tensor.shape
    if tensor.datatype not in TENSOR_TYPES or k != len(names) or n == 0:
        raise TensorError(
            f"a single tensor input must be FP32 or FP64 of shape [n, {len(names)}] "
            f"with the features {', '.join(names)} in this order"
        )
    values = tensor.values
    return [dict(zip(names, values[i * k : (i + 1) * k], strict=True)) for i in range(n)]


def answer(prediction: Prediction) -> list[Tensor]:
    """`label` (BYTES) and `probabilities` (FP64 [n, classes]) or, for regressors, `value`."""
    n = len(prediction.labels)
    if prediction.values is not None:
        return [Tensor("value", "FP64", [n], [float(v) for v in prediction.values])]
    tensors = [Tensor("label", "BYTES", [n], [str(label) for label in prediction.labels])]
    if prediction.probabilities is not None:
        probabilities = np.asarray(prediction.probabilities, dtype=np.float64)
        tensors.append(
            Tensor(
                "probabilities", "FP64", list(probabilities.shape), probabilities.ravel().tolist()
            )
        )
    return tensors


def encode_outputs(
    tensors: Sequence[Tensor], request: dict[str, Any]
) -> tuple[list[dict[str, Any]], bytes]:
    """The response's `outputs` (those requested, or all) and their binary data, if asked."""
    binary_default = parameters_of(request, "the request").get("binary_data_output") is True
    wanted = _requested(request.get("outputs"), {t.name for t in tensors}, binary_default)
    outputs, blobs = [], []
    for tensor in tensors:
        if tensor.name not in wanted:
            continue
        body: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": tensor.shape,
        }
        if wanted[tensor.name]:
            raw = _to_binary(tensor)
            body["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            body["data"] = tensor.values
        outputs.append(body)
    return outputs, b"".join(blobs)


def _requested(outputs: Any, available: set[str], binary_default: bool) -> dict[str, bool]:
    """Output name -> whether it goes as binary data."""
    if outputs is None:
        return dict.fromkeys(available, binary_default)
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise TensorError("'outputs' must be a list of objects with a 'name'")
    wanted = {}
    for output in outputs:
        if output["name"] not in available:
            known = ", ".join(sorted(available))
            raise TensorError(f"unknown output '{output['name']}'; this model answers {known}")
        binary = parameters_of(output, f"output '{output['name']}'").get(
            "binary_data", binary_default
        )
        wanted[output["name"]] = binary is True
    return wanted


def _to_binary(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        encoded = [str(v).encode("utf-8") for v in tensor.values]
        return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    dtype = np.dtype(NUMPY_TYPES[tensor.datatype]).newbyteorder("<")
    return np.asarray(tensor.values, dtype=dtype).tobytes()


def model_metadata(model: LoadedModel) -> dict[str, Any]:
    """The model metadata response: one input per feature, the outputs, the class order."""
    manifest = model.manifest
    inputs = [
        {"name": f.name, "datatype": _feature_datatype(f.type), "shape": [-1]}
        for f in manifest.features
    ]
    parameters: dict[str, Any] = {"content_type": "pd", "task": manifest.task}
    if manifest.task == "regression":
        outputs = [{"name": "value", "datatype": "FP64", "shape": [-1]}]
    else:
        classes = [str(c) for c in manifest.classes]
        outputs = [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(classes)]},
        ]
        # Parameter values are strings, numbers or booleans: the class order as a JSON array.
        parameters["classes"] = json.dumps(classes, ensure_ascii=False)
    return {
        "name": manifest.name,
        "versions": [manifest.version],
        "platform": f"modelserve_{manifest.model_artifact.format}",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": parameters,
    }


def _feature_datatype(feature_type: str) -> str:
    return {"number": "FP64", "integer": "INT64"}.get(feature_type, "BYTES")
