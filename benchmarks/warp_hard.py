"""Where a warp of one shot must fail: a trained model against the landmark warp, the warp on
guard-rails (no learning), the shipped model, and the trained model's own architecture untrained
and at its warm start (docs/eval/tiny-guided/warp_hard.md).

    python benchmarks/warp_hard.py fsth/pretrained/talking_heads_tiny_guided.pt docs/eval/tiny-guided \\
        [--warm-start fsth/pretrained/talking_heads_tiny_layered.pt] [--identities 16] [--size 256] [--ablations]

--size renders the SynthHeads pairs at that size (default: the model's own); a model smaller than
that renders at it as ``fsth animate`` does (texture from the full-resolution shot).
--ablations adds rows of the trained model with each of its switches off: its refiners
(``refine_eyes``, ``refine_mouth``), the full-resolution flow's dead zone (``flow_deadzone``: off, one
model pixel, and so long that no correction is left) and its correction inside the inner face
(``flow_outside_face`` off) — these two only above the model's own size, where they act —, the mask's
bounds (``confine_synthesis``, ``cavity_floor``) and the painted cavity's floor under the learned gate
(``cavity_shown`` 0: the gate alone decides).
"""
import argparse
from pathlib import Path

import torch

import fsth
from fsth.nn import create
from fsth.train.meta import warm_start
from fsth.warp_hard import save_warp_hard, warp_hard_pairs, warp_hard_table

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("trained", help="the trained model's checkpoint")
parser.add_argument("out", help="folder for warp_hard.md / .json")
parser.add_argument("--warm-start", default="", help="the checkpoint its training started from (a row of its own)")
parser.add_argument("--compare", action="append", default=[], metavar="NAME=CHECKPOINT", help="other models")
parser.add_argument("--identities", type=int, default=16, help="held-out SynthHeads identities (3 pairs each)")
parser.add_argument("--size", type=int, default=0, help="pair size in pixels (default: the model's)")
parser.add_argument("--ablations", action="store_true", help="rows of the trained model with a part switched off")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
trained = fsth.load_model(args.trained)
pairs = warp_hard_pairs(identities=args.identities, size=args.size or trained.config.image_size)
kind = trained.config.generator
torch.manual_seed(0)
untrained = create(trained.config.to_dict()).eval()
models = {"landmark warp": None, "guard-rails, no learning": "guided-warp"}
models.update({name: fsth.load_model(path) for name, path in (spec.split("=", 1) for spec in args.compare)})
models[f"{kind}, untrained"] = untrained
if args.warm_start:
    torch.manual_seed(0)
    start = create(trained.config.to_dict()).eval()
    warm_start(start, args.warm_start)
    models[f"{kind}, warm start (step 0)"] = start
FULL_SIZE_ONLY = {"flow_deadzone", "flow_outside_face"}  # switches of the flow at a size above the model's
if args.ablations:
    for switch, off, label in (("refine_eyes", False, "eye refiner off"), ("refine_mouth", False, "mouth refiner off"),
                               ("flow_deadzone", 0.0, "flow dead zone off"), ("flow_deadzone", 1.0, "flow dead zone 1"),
                               ("flow_outside_face", False, "flow corrected inside the face too"),
                               ("flow_deadzone", 1e9, "no learned flow correction at full resolution"),
                               ("confine_synthesis", False, "synthesis not confined to the mouth"),
                               ("cavity_floor", False, "no cavity floor"),
                               ("cavity_shown", 0.0, "the painted cavity behind the learned gate alone")):
        if switch in FULL_SIZE_ONLY and pairs[0]["target"].shape[0] <= trained.config.image_size:
            continue  # at the model's own size these change nothing
        if hasattr(trained.generator, switch):
            ablated = fsth.load_model(args.trained)
            if isinstance(getattr(ablated.generator, switch), torch.Tensor):  # a switch saved with the weights
                getattr(ablated.generator, switch).fill_(off)
            else:
                setattr(ablated.generator, switch, off)
            models[f"{kind}, trained, {label}"] = ablated
models[f"{kind}, trained"] = trained
rows = warp_hard_table(models, pairs)
print(save_warp_hard(out, rows, len(pairs), size=pairs[0]["target"].shape[0]).read_text())
