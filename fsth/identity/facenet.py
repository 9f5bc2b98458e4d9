"""dlib's face-recognition ResNet in PyTorch, with the weights of dlib's own file.

The network (dlib's ``dnn_face_recognition_ex``): a 7×7/2 convolution to 32 channels, a
3×3/2 max-pool, then 14 residual blocks — 3 of 32 channels, 4 of 64, 3 of 128, 4 of 256 —
whose first block at each new width halves the resolution (3×3/2 convolution on the main
path, 2×2 average pool on the skip; the two are added zero-padded to the larger size, as
dlib's ``add_prev`` does); "affine" layers (a per-channel scale and shift: frozen batch
norm) after every convolution; a global average pool and a 128-d linear map without bias.

Input: a 150×150 RGB face chip (see ``align.py``) with dlib's mean colour subtracted and
divided by 256. Output: dlib's 128-d descriptor; two faces whose descriptors are closer than
0.6 (Euclidean) are the same person by dlib's rule.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dlib_format import DlibFormatError, Layer, read_layers

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
SAME_PERSON = 0.6  # dlib's verification threshold on the Euclidean distance
WIDTHS = [32] * 3 + [64] * 4 + [128] * 3 + [256] * 4  # residual blocks, input to output


class Affine(nn.Module):
    """y = γ·x + β per channel: dlib's stand-in for a batch norm after training."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("gamma", torch.ones(1, channels, 1, 1))
        self.register_buffer("beta", torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        return x * self.gamma + self.beta


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b where the smaller is zero-padded (channels, bottom, right) to the larger: dlib's add_prev."""
    size = [max(a.shape[i], b.shape[i]) for i in (1, 2, 3)]

    def pad(t):
        return F.pad(t, (0, size[2] - t.shape[3], 0, size[1] - t.shape[2], 0, size[0] - t.shape[1]))

    return pad(a) + pad(b)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        stride, self.down = (2, 0) if down else (1, 1), down
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride[0], padding=stride[1])
        self.affine1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.affine2 = Affine(cout)

    def forward(self, x):
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        skip = F.avg_pool2d(x, 2) if self.down else x
        return F.relu(add_zero_padded(y, skip))


class DlibFaceNet(nn.Module):
    """(B, 3, 150, 150) face chips in [0, 255] → (B, 128) dlib descriptors."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([122.782, 117.001, 104.298]).view(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, 32, 7, stride=2)
        self.stem_affine = Affine(32)
        blocks, width = [], 32
        for i, cout in enumerate(WIDTHS):
            blocks.append(Block(width, cout, down=i > 0 and cout != width or i == len(WIDTHS) - 1))
            width = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(256, 128, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips - self.mean) / 256.0
        x = F.max_pool2d(F.relu(self.stem_affine(self.stem(x))), 3, 2)
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(dim=(2, 3)))


def load_dlib_weights(net: DlibFaceNet, layers: list[Layer], source: str = "dlib file") -> DlibFaceNet:
    """Copy the parameters read from dlib's file into ``net`` (layers in file order)."""
    convs = [net.stem] + [c for b in net.blocks for c in (b.conv1, b.conv2)]
    affines = [net.stem_affine] + [a for b in net.blocks for a in (b.affine1, b.affine2)]
    found = {kind: [layer for layer in layers if layer.kind == kind] for kind in ("con", "affine", "fc")}
    if (len(found["con"]), len(found["affine"]), len(found["fc"])) != (len(convs), len(affines), 1):
        raise DlibFormatError(f"{source}: expected {len(convs)} convolutions, {len(affines)} affine layers "
                              f"and 1 fc layer; found {len(found['con'])}, {len(found['affine'])}, {len(found['fc'])}")
    with torch.no_grad():
        for conv, layer in zip(convs, found["con"]):
            shape = tuple(layer.meta["weight_shape"])
            if shape != tuple(conv.weight.shape) or layer.meta["stride"] != conv.stride[0] \
                    or layer.meta["padding"] != conv.padding[0]:
                raise DlibFormatError(f"{source}: convolution {shape} stride {layer.meta['stride']} does not fit "
                                      f"{tuple(conv.weight.shape)} stride {conv.stride[0]}")
            count = int(np.prod(shape))
            conv.weight.copy_(torch.from_numpy(layer.params[:count].reshape(shape)))
            conv.bias.copy_(torch.from_numpy(layer.params[count:]))
        for affine, layer in zip(affines, found["affine"]):
            gamma, beta = np.split(layer.params, 2)
            affine.gamma.copy_(torch.from_numpy(gamma).view_as(affine.gamma))
            affine.beta.copy_(torch.from_numpy(beta).view_as(affine.beta))
        fc = found["fc"][0]
        net.fc.weight.copy_(torch.from_numpy(fc.params.reshape(fc.meta["inputs"], fc.meta["outputs"]).T))
        net.mean.copy_(torch.tensor(layers[0].meta["mean"]).view_as(net.mean))
    return net


@functools.lru_cache(maxsize=2)
def dlib_face_net(path: str | None = None) -> DlibFaceNet:
    """The ported network with dlib's weights (frozen, eval mode), read once per process."""
    from ..landmarks.detect import dlib_model_path

    path = path or dlib_model_path(MODEL_FILE)
    net = load_dlib_weights(DlibFaceNet(), read_layers(path), str(Path(path)))
    return net.eval().requires_grad_(False)
