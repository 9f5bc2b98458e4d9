"""Read the layers of a dlib DNN file (``dlib_face_recognition_resnet_model_v1.dat``).

dlib writes a network with its own ``serialize()``: every layer, from the input to the loss,
as a version string followed by its fields. The encodings (from dlib's serialize.h):

- integers: a control byte (low 4 bits: how many bytes follow; 0x80: negative), then the
  magnitude little-endian;
- floats: two such integers, mantissa and exponent: value = mantissa · 2**exponent;
- strings: an integer length, then the characters;
- tensors: version 2, then n, k, rows, cols, then n·k·rows·cols little-endian float32;
- alias tensors (views into a layer's parameter tensor): version 1, then n, k, rows, cols.

The layers that carry numbers — ``con_``, ``affine_``, ``fc_`` and the input's mean colour — are
found by their version strings in file order; tag, skip, ReLU and pooling layers have no
weights, and the network's wiring is known (see ``facenet.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# a serialized string: control byte 0x01 (one length byte follows), the length, the name
_LAYER_NAME = re.compile(rb"\x01([\x04-\x18])((?:con|affine|fc|relu|max_pool|avg_pool|add_prev|input_rgb_image_sized)"
                         rb"_?[0-9]?)")


class DlibFormatError(ValueError):
    """The file is not the dlib network this reader understands."""


@dataclass
class Layer:
    kind: str  # "input" | "con" | "affine" | "fc" | "relu" | "max_pool" | "avg_pool" | "add_prev"
    params: np.ndarray | None = None  # the layer's parameter tensor, flattened
    meta: dict = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes, pos: int, source: str):
        self.data, self.pos, self.source = data, pos, source

    def _need(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise DlibFormatError(f"{self.source}: truncated at byte {self.pos}")

    def int(self) -> int:
        self._need(1)
        control = self.data[self.pos]
        size, negative = control & 0x0F, bool(control & 0x80)
        if size > 8 or control & 0x70:
            raise DlibFormatError(f"{self.source}: bad integer at byte {self.pos}")
        self._need(1 + size)
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if negative else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(np.ldexp(float(mantissa), exponent))

    def string(self) -> str:
        length = self.int()
        self._need(length)
        text = self.data[self.pos:self.pos + length].decode("latin-1")
        self.pos += length
        return text

    def shape(self, version: int) -> tuple[int, int, int, int]:
        if self.int() != version:
            raise DlibFormatError(f"{self.source}: unexpected tensor version at byte {self.pos}")
        return tuple(self.int() for _ in range(4))

    def tensor(self) -> np.ndarray:
        count = int(np.prod(self.shape(2)))
        self._need(4 * count)
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32)
        self.pos += 4 * count
        return values


def read_layers(path: str | Path) -> list[Layer]:
    """Every layer of the network in input-to-output order, with its parameters."""
    path = Path(path)
    data = path.read_bytes()
    layers, pos = [], 0
    while (match := _LAYER_NAME.search(data, pos)) is not None:
        name = match.group(2)[:match.group(1)[0]].decode()
        reader = _Reader(data, match.end(), str(path))
        kind = name.rstrip("_0123456789") if not name.startswith("input") else "input"
        if kind == "input":
            layer = Layer("input", meta={"mean": [reader.float() for _ in range(3)]})
        elif kind == "con":
            params = reader.tensor()
            filters, rows, cols = reader.int(), reader.int(), reader.int()
            stride, _, padding, _ = reader.int(), reader.int(), reader.int(), reader.int()
            shape = reader.shape(1)
            layer = Layer("con", params, {"filters": filters, "kernel": (rows, cols), "stride": stride,
                                          "padding": padding, "weight_shape": shape})
        elif kind == "affine":
            layer = Layer("affine", reader.tensor(), {"channels": reader.shape(1)[1]})
        elif kind == "fc":
            outputs, inputs = reader.int(), reader.int()
            layer = Layer("fc", reader.tensor(), {"outputs": outputs, "inputs": inputs})
        else:
            layer = Layer(kind)
        layers.append(layer)
        pos = reader.pos
    if not layers or layers[0].kind != "input":
        raise DlibFormatError(f"{path}: no dlib network found (expected an input_rgb_image_sized layer first)")
    return layers
