"""Where a warp of one shot must fail: the layered model against the warp, the warping G, the
untrained architecture and its warm start (docs/eval/tiny-layered/warp_hard.md).

    python benchmarks/warp_hard.py fsth/pretrained/talking_heads_tiny_layered.pt docs/eval/tiny-layered
"""
import sys
from pathlib import Path

import torch

import fsth
from fsth.nn import create
from fsth.train.meta import warm_start
from fsth.warp_hard import save_warp_hard, warp_hard_pairs, warp_hard_table

trained_path, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
pairs = warp_hard_pairs(identities=16)
shipped = fsth.load_model(fsth.pretrained_path(fsth.SHIPPED_MODEL))
torch.manual_seed(0)
untrained = create(shipped.config.to_dict() | {"generator": "layered"}).eval()
torch.manual_seed(0)
start = create(shipped.config.to_dict() | {"generator": "layered"}).eval()
warm_start(start, str(fsth.pretrained_path(fsth.SHIPPED_MODEL)))
trained = fsth.load_model(trained_path)
rows = warp_hard_table({"landmark warp": None, "warping G (shipped)": shipped, "layered, untrained": untrained,
                        "layered, warm start (step 0)": start, "layered, trained": trained}, pairs)
print(save_warp_hard(out, rows, len(pairs)).read_text())
