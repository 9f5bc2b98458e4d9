"""The README's Python API example runs as printed (in a temporary folder)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_example_runs(samples, tmp_path, monkeypatch, capsys):
    block = re.search(r"<!-- python-api -->\s*```python\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README must hold the Python API example after <!-- python-api -->"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.group(1), "README.md (Python API)", "exec"), namespace)
    result, frame = namespace["result"], namespace["frame"]
    assert (tmp_path / "hopper_talks.mp4").exists() and result["frames"] == 12
    assert frame.shape == (namespace["model"].config.image_size,) * 2 + (3,) and frame.dtype == np.uint8
    assert "hopper_talks.mp4" in capsys.readouterr().out


def test_the_front_door_names_have_docstrings():
    import fsth

    undocumented = [name for name in fsth.__all__ if not isinstance(getattr(fsth, name), (str, dict, Path))
                    and not (getattr(fsth, name).__doc__ or "").strip()]
    assert not undocumented, undocumented
