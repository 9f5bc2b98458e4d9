"""State carried over a video's frames: what a renderer smooths from one frame to the next."""
from __future__ import annotations

from typing import Callable

import torch


def moving_average(frames: torch.Tensor, before: torch.Tensor | None, keep: float,
                   hold: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``frames`` (T, ...) of one video, each replaced by an exponential moving average keeping
    ``keep`` of the previous frame's (0: as they are); ``hold(before, frame)``, if given, first
    moves each frame relative to the previous smoothed one (a dead band). ``before``: the last
    frame of the previous call (None, or another shape or device: the video starts here).
    Returns the smoothed frames and the last one, detached, to continue from."""
    if before is not None and (before.shape != frames.shape[1:] or before.device != frames.device):
        before = None
    smoothed = []
    for frame in frames:
        if before is not None and hold is not None:
            frame = hold(before, frame)
        before = frame if before is None else keep * before + (1 - keep) * frame
        smoothed.append(before)
    return torch.stack(smoothed), before.detach()
