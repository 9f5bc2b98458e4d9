"""Content Credentials (C2PA) on every image and video fsth writes, validated with c2pa's reader."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from fsth.io import credentials
from fsth.io.credentials import SOURCE_TYPES, CredentialsError, read
from fsth.cli import main as fsth
from tests.helpers import run_cli


@pytest.fixture(autouse=True)
def own_identity(tmp_path, monkeypatch):
    """Each test signs with a local test identity of its own (and never a user's from the environment)."""
    monkeypatch.setenv("FSTH_C2PA_DIR", str(tmp_path / "identity"))
    for name in ("FSTH_C2PA_CERT", "FSTH_C2PA_KEY", "FSTH_C2PA_TRUST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(credentials, "_chosen", None)


def _frame(seed=0, size=64):
    return np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["out.png", "out.jpg", "out.webp"])
def test_saved_images_carry_credentials_that_validate(tmp_path, name):
    from fsth.io.images import is_marked_synthetic, save_image

    path = save_image(tmp_path / name, _frame(), synthetic=True)
    found = read(path)
    assert found.state == "Trusted" and found.synthetic and found.failures == ()
    assert found.source_type == SOURCE_TYPES["synthetic"] and found.generator == "fsth"
    assert is_marked_synthetic(path)  # the metadata note is still there beside the manifest
    assert read(save_image(tmp_path / ("real-" + name), _frame())).source_type == SOURCE_TYPES["composite"]


@pytest.mark.parametrize("name", ["out.mp4", "out.gif"])
def test_written_videos_carry_credentials_that_validate(tmp_path, name):
    from fsth.io.video import read_frames, read_metadata, write_video

    path = write_video(tmp_path / name, [_frame(i) for i in range(6)], fps=10, synthetic=True)
    found = read(path)
    assert found.state == "Trusted" and found.synthetic
    assert "SYNTHETIC" in " ".join(read_metadata(path).values())
    assert len(list(read_frames(path))) == 6  # still a playable video
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # no temp left behind


def test_figures_are_declared_charts(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fsth.io import save_figure

    fig = plt.figure()
    plt.plot([0, 1], [1, 0])
    found = read(save_figure(fig, tmp_path / "curve.png"))
    plt.close(fig)
    assert found.state == "Trusted" and found.source_type == SOURCE_TYPES["figure"]


def test_a_changed_pixel_invalidates_the_credentials(tmp_path):
    from PIL import Image

    from fsth.io.images import save_image

    path = save_image(tmp_path / "out.png", _frame(), synthetic=True)
    data = bytearray(path.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    found = read(path)
    assert found.state == "Invalid" and any("mismatch" in code for code in found.failures)
    assert read(tmp_path / "out.png") is not None
    Image.fromarray(_frame()).save(tmp_path / "plain.png")
    assert read(tmp_path / "plain.png").state is None  # no manifest at all


def _user_identity(tmp_path):
    """A user's own chain and key (made the way fsth makes its test identity, in another folder)."""
    pem = credentials._make_local_pem()
    chain, key = pem.split(b"-----BEGIN PRIVATE KEY-----")
    (tmp_path / "me.pem").write_bytes(chain)
    (tmp_path / "me.key").write_bytes(b"-----BEGIN PRIVATE KEY-----" + key)
    return tmp_path / "me.pem", tmp_path / "me.key", credentials._split_local(pem).anchors


def test_a_users_certificate_signs_by_option(tmp_path):
    from fsth.io.images import save_image

    cert, key, anchors = _user_identity(tmp_path)
    credentials.use_certificate(cert, key)
    path = save_image(tmp_path / "out.png", _frame(), synthetic=True)
    assert read(path, anchors=anchors).state == "Trusted"
    local_only = read(path, anchors=credentials.local_identity().anchors)
    assert local_only.state == "Valid" and "signingCredential.untrusted" in local_only.failures


def test_cli_signs_with_the_users_certificate_and_reports(tmp_path, monkeypatch, capsys):
    cert, key, anchors = _user_identity(tmp_path)
    data, out = tmp_path / "synth", tmp_path / "sheet.png"
    assert fsth(["synth", str(data), "--identities", "1", "--clips-per-identity", "1", "--frames", "2",
                 "--size", "32"]) == 0
    assert fsth(["--c2pa-cert", str(cert), "--c2pa-key", str(key), "inspect", str(data), "--out", str(out)]) == 0
    capsys.readouterr()
    assert fsth(["credentials", str(out)]) == 0  # intact, signed by a certificate this machine doesn't know
    assert "sheet.png: Valid" in capsys.readouterr().out
    trust = tmp_path / "anchors.pem"
    trust.write_bytes(anchors)
    monkeypatch.setenv("FSTH_C2PA_TRUST", str(trust))
    assert fsth(["credentials", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sheet.png: Trusted" in text and "composite" in text, text


def test_bad_certificates_fail_up_front_naming_the_file(tmp_path):
    cert, key, _ = _user_identity(tmp_path)
    other_key = tmp_path / "other.key"
    other_key.write_bytes(b"-----BEGIN PRIVATE KEY-----" + credentials._make_local_pem().split(b"-----BEGIN PRIVATE KEY-----")[1])
    with pytest.raises(CredentialsError, match="other.key: this key does not belong"):
        credentials.use_certificate(cert, other_key)
    ca_only = tmp_path / "ca.pem"  # a CA certificate can't sign content: c2pa refuses it, and we say so now
    ca_only.write_bytes(credentials._split_local(credentials._make_local_pem()).anchors)
    with pytest.raises(CredentialsError, match="ca.pem"):
        credentials.use_certificate(ca_only, key)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(CredentialsError, match="junk.pem: not a PEM"):
        credentials.use_certificate(tmp_path / "junk.pem", key)
def test_bad_certificate_flags_are_one_line_errors(tmp_path, capsys):
    cert, _, _ = _user_identity(tmp_path)
    code, text = run_cli(capsys, ["--c2pa-cert", str(cert), "credentials", "x.png"])
    assert code == 2 and "go together" in text
    code, text = run_cli(capsys, ["--c2pa-cert", str(cert), "--c2pa-key", str(tmp_path / "nosuch.key"),
                                  "credentials", "x.png"])
    assert code == 1 and "nosuch.key" in text


def test_credentials_command_reports_each_file(tmp_path, capsys):
    from PIL import Image

    from fsth.io.images import save_image

    good = save_image(tmp_path / "good.jpg", _frame(), synthetic=True)
    Image.fromarray(_frame()).save(tmp_path / "plain.png")
    code = fsth(["credentials", str(good), str(tmp_path / "plain.png"), str(tmp_path / "missing.png")])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert code == 1
    assert "good.jpg: Trusted" in text and "plain.png: no Content Credentials" in text and "missing.png" in text
    assert "Traceback" not in text


def test_the_local_identity_is_made_once_and_kept_private(tmp_path):
    folder = tmp_path / "ids"
    first = credentials.local_identity(folder)
    credentials._local_identity.cache_clear()
    assert credentials.local_identity(folder) == first  # read back, not made anew
    assert stat.S_IMODE(os.stat(folder / "test-identity.pem").st_mode) == 0o600
    (folder / "test-identity.pem").write_text("torn")
    credentials._local_identity.cache_clear()
    assert credentials.local_identity(folder).chain != first.chain  # a torn one is replaced


def test_a_read_only_home_still_signs(tmp_path, monkeypatch):
    from fsth.io.images import save_image

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setenv("FSTH_C2PA_DIR", str(locked / "c2pa"))
    try:
        found = read(save_image(tmp_path / "out.png", _frame(), synthetic=True))
    finally:
        locked.chmod(0o700)
    assert found.synthetic and found.state in ("Trusted", "Valid")
