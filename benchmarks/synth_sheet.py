"""Contact sheet of SynthHeads: 16 identities x 4 frames, each frame above its landmark overlay.

    python benchmarks/synth_sheet.py [--out docs/synthheads.png --tile 72 --seed 0]

Identities are those ``write_dataset`` makes with the same seed (synth00000 ... synth00015, clip01).
"""
import argparse

import numpy as np

from fsth.io.images import save_image
from fsth.data.synthetic import random_identity, render_clip
from fsth.data.synthetic.dataset import clip_seed
from fsth.landmarks import overlay_landmarks


def identity_block(index: int, seed: int, tile: int, frames: int = 4, length: int = 32) -> np.ndarray:
    """(2 * tile, frames * tile, 3): frames of clip01 spread over the clip, overlays below."""
    who = random_identity(np.random.default_rng([seed, index]))
    images, points, _ = render_clip(who, length, tile, clip_seed(seed, index, 0))
    picks = np.linspace(0, length - 1, frames).round().astype(int)
    top = np.concatenate([images[t] for t in picks], axis=1)
    bottom = np.concatenate([overlay_landmarks(images[t], points[t], alpha=0.7) for t in picks], axis=1)
    return np.concatenate([top, bottom], axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/synthheads.png")
    parser.add_argument("--tile", type=int, default=72, help="frame size in pixels (72 keeps the PNG under 1 MB)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gap = 4
    blocks = [identity_block(i, args.seed, args.tile) for i in range(16)]
    height, width = blocks[0].shape[:2]
    sheet = np.full((4 * height + 3 * gap, 4 * width + 3 * gap, 3), 255, np.uint8)
    for i, block in enumerate(blocks):
        y, x = (i // 4) * (height + gap), (i % 4) * (width + gap)
        sheet[y:y + height, x:x + width] = block
    out = save_image(args.out, sheet, synthetic=True)
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
