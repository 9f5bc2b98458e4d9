"""Pictures in notebooks: tensors or arrays side by side, and strips for widgets."""
from __future__ import annotations


import numpy as np
import torch



def as_image(x) -> np.ndarray:
    """uint8 (H, W, 3) from a uint8 array or a tensor (3, H, W) in [-1, 1] (fsth's convention)."""
    if isinstance(x, torch.Tensor):
        from ..io.tensors import to_uint8

        return to_uint8(x)
    return np.asarray(x)


def show(images, titles=None, cols: int | None = None, scale: float = 2.2, title: str | None = None) -> None:
    """Show pictures side by side: uint8 (H, W, 3) arrays, (H, W) grey arrays or (3, H, W) tensors in [-1, 1]."""
    import math

    import matplotlib.pyplot as plt

    images = [as_image(i) for i in images]
    if not images:
        print(f"nothing to show yet{f' ({title})' if title else ''}: no pictures were made "
              "(a time-boxed run on a slow machine may stop before its first picture)")
        return
    cols = cols or len(images)
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(scale * cols, scale * rows + (0.35 if titles or title else 0)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, name in zip(axes.ravel(), images, titles or [None] * len(images)):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        if name:
            ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.show()


def tile(images, height: int | None = None, gap: int = 4) -> np.ndarray:
    """One uint8 picture of images side by side (resized to one ``height``), for widgets."""
    import cv2

    images = [as_image(i) for i in images]
    height = height or max(i.shape[0] for i in images)
    resized = [cv2.resize(i, (max(1, round(i.shape[1] * height / i.shape[0])), height),
                          interpolation=cv2.INTER_AREA if i.shape[0] > height else cv2.INTER_NEAREST) for i in images]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    parts = []
    for image in resized:
        parts += [image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2), spacer]
    return np.concatenate(parts[:-1], axis=1)
