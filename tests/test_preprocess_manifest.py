"""``fsth preprocess`` keeps each source's content hash in OUT/manifest.json: a changed source is
redone, a removed source's clip is dropped, and an OUT inside SRC is never read as a source."""
import hashlib
import json

import numpy as np
import pytest

from fsth.cli import main
from fsth.data.manifest import MANIFEST, Manifest
from fsth.data.preprocess import Settings, discover, preprocess
from fsth.errors import UsageError
from fsth.io.clips import list_clips, load_clip
from fsth.io.images import read_image, save_image

SMALL = Settings(size=64, backend="dlib")


def _faces(src, samples, names=("grace_hopper", "astronaut")):
    src.mkdir(parents=True, exist_ok=True)
    for name in names:
        save_image(src / f"{name}.png", read_image(samples.fetch(name)))
    return src


def _manifest(out):
    return json.loads((out / MANIFEST).read_text())


def test_a_changed_source_is_redone_and_a_removed_ones_clip_is_dropped(samples, tmp_path):
    src, out = _faces(tmp_path / "src", samples), tmp_path / "out"
    first = preprocess(src, out, SMALL, progress=False)
    assert first["done"] == 2 and sorted(_manifest(out)["clips"]) == ["astronaut.npz", "grace_hopper.npz"]
    before = load_clip(out / "grace_hopper.npz")

    (src / "astronaut.png").unlink()
    save_image(src / "grace_hopper.png", read_image(samples.fetch("einstein")))  # same name, another face
    second = preprocess(src, out, SMALL, progress=False)
    assert (second["done"], second["skipped"], second["redone"], second["dropped"]) == (1, 0, 1, ["astronaut.npz"])
    assert [p.name for p in list_clips(out)] == ["grace_hopper.npz"]
    after = load_clip(out / "grace_hopper.npz")
    assert not np.array_equal(after.frames, before.frames) and not np.allclose(after.landmarks, before.landmarks)
    clips = _manifest(out)["clips"]
    assert list(clips) == ["grace_hopper.npz"]
    assert clips["grace_hopper.npz"]["sha256"] == hashlib.sha256((src / "grace_hopper.png").read_bytes()).hexdigest()

    third = preprocess(src, out, SMALL, progress=False)  # nothing changed: nothing redone
    assert (third["done"], third["skipped"], third["redone"], third["dropped"]) == (0, 1, 0, [])


def test_a_changed_source_that_now_fails_loses_its_old_clip(samples, tmp_path):
    src, out = _faces(tmp_path / "src", samples, ("grace_hopper",)), tmp_path / "out"
    preprocess(src, out, SMALL, progress=False)
    save_image(src / "grace_hopper.png", np.full((120, 120, 3), 128, np.uint8))  # no face any more
    summary = preprocess(src, out, SMALL, progress=False)
    assert summary["failed"] == 1 and "no face" in summary["failures"][0][1]
    assert not (out / "grace_hopper.npz").exists() and _manifest(out)["clips"] == {}


def test_clips_of_another_source_folder_in_the_same_out_are_kept(samples, tmp_path):
    out = tmp_path / "out"
    preprocess(_faces(tmp_path / "a", samples, ("grace_hopper",)), out, SMALL, progress=False)
    summary = preprocess(_faces(tmp_path / "b", samples, ("astronaut",)), out, SMALL, progress=False)
    assert summary["dropped"] == [] and sorted(p.name for p in list_clips(out)) == ["astronaut.npz", "grace_hopper.npz"]


def test_an_out_folder_inside_the_source_folder_is_not_scanned(samples, tmp_path, capsys):
    src = _faces(tmp_path / "src", samples)
    out = src / "out"
    settings = ["--size", "64", "--backend", "dlib"]
    assert main(["preprocess", str(src), str(out), *settings]) == 0
    assert "2 input(s): 2 written" in capsys.readouterr().out
    assert main(["inspect", str(out), "--out", str(out / "contact_sheet.png")]) == 0  # a picture inside OUT
    save_image(out / "stray_face.png", read_image(samples.fetch("einstein")))
    capsys.readouterr()
    assert main(["preprocess", str(src), str(out), *settings]) == 0
    assert "2 input(s): 0 written, 2 already done, 0 failed" in capsys.readouterr().out
    assert sorted(p.relative_to(out).as_posix() for p in list_clips(out)) == ["astronaut.npz", "grace_hopper.npz"]
    assert {job.source for job in discover(src, skip=out)} == {str(src / "astronaut.png"), str(src / "grace_hopper.png")}


def test_out_equal_to_src_is_a_usage_error(samples, tmp_path, capsys):
    src = _faces(tmp_path / "src", samples, ("grace_hopper",))
    with pytest.raises(UsageError, match="is SRC itself"):
        preprocess(src, src, SMALL, progress=False)
    assert main(["preprocess", str(src), str(src), "--backend", "dlib"]) == 2
    assert not list_clips(src)


def test_unchanged_files_keep_their_hash_without_being_read(tmp_path, monkeypatch):
    image = tmp_path / "a.png"
    image.write_bytes(b"pretend image")
    manifest = Manifest(tmp_path)
    digest = manifest.content_hash(image, "image")
    assert digest == hashlib.sha256(b"pretend image").hexdigest()
    manifest._used[str(image.resolve())]["hashed_at"] += 10  # hashed well after its last change
    manifest.clips["a.npz"] = {"source": str(image), "sha256": digest}
    manifest.save()

    import builtins

    real_open = builtins.open

    def no_reading(path, *args, **kwargs):
        assert str(path) != str(image), "an unchanged file was read again"
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_reading)
    assert Manifest(tmp_path).content_hash(image, "image") == digest
    monkeypatch.setattr(builtins, "open", real_open)
    image.write_bytes(b"another image!")  # same place, new content: hashed again
    assert Manifest(tmp_path).content_hash(image, "image") == hashlib.sha256(b"another image!").hexdigest()


def test_a_damaged_manifest_drops_nothing(samples, tmp_path, caplog):
    src, out = _faces(tmp_path / "src", samples, ("grace_hopper",)), tmp_path / "out"
    preprocess(src, out, SMALL, progress=False)
    (out / MANIFEST).write_text("{not json")
    summary = preprocess(src, out, SMALL, progress=False)
    assert summary["skipped"] == 1 and summary["dropped"] == [] and "manifest.json: unreadable" in caplog.text
    assert list(_manifest(out)["clips"]) == ["grace_hopper.npz"]  # adopted again
