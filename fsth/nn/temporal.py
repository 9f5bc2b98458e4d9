"""State carried over a video's frames: what a renderer smooths from one frame to the next."""
from __future__ import annotations

from typing import Callable

import torch


def moving_average(frames: torch.Tensor, before: torch.Tensor | None, keep: float, band: float = 0.0,
                   size: Callable[[torch.Tensor], torch.Tensor] = torch.abs) -> tuple[torch.Tensor, torch.Tensor]:
    """``frames`` (T, ...) of one video, each replaced by an exponential moving average keeping
    ``keep`` of the previous frame's (0: as they are). With a ``band`` > 0, each frame first moves
    from the previous smoothed one only by what its change exceeds the band (a dead band; ``size``
    measures a change, broadcastable to it: by default each value on its own). ``before``: the
    last frame of the previous call (None, or another shape or device: the video starts here).
    Returns the smoothed frames and the last one, detached, to continue from."""
    if before is not None and (before.shape != frames.shape[1:] or before.device != frames.device):
        before = None
    smoothed = []
    for frame in frames:
        if before is not None and band > 0:
            change = frame - before
            length = size(change)
            frame = before + change * (length - band).clamp(min=0) / length.clamp(min=1e-9)
        before = frame if before is None else keep * before + (1 - keep) * frame
        smoothed.append(before)
    return torch.stack(smoothed), before.detach()
