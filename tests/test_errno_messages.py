"""Writes that fail for a reason the user can fix say so in one line naming their target (fsth.io.atomic)."""
from __future__ import annotations

import errno
import io
import os
import shutil
from collections import namedtuple

import numpy as np
import pytest
import torch

from fsth.errors import describe, run_command
from fsth.io import WriteError, atomic_path, atomic_write, atomic_write_text, stale_temps
from fsth.io import atomic as atomic_module
from fsth.io.checkpoint import load_checkpoint, save_checkpoint
from fsth.io.images import read_image, save_image

PHRASES = {errno.ENOSPC: "no space left on device", errno.ENAMETOOLONG: "file name too long",
           errno.EROFS: "read-only file system", errno.EACCES: "permission denied"}
Usage = namedtuple("Usage", "total used free")


def fail_with(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(args[0]) if args else None)
    return fail


@pytest.mark.parametrize("code", sorted(PHRASES))
def test_a_failed_replace_names_the_target_and_the_reason_not_the_temp_file(tmp_path, monkeypatch, code):
    target = tmp_path / "results.json"
    monkeypatch.setattr(atomic_module.os, "replace", fail_with(code))  # its first argument is the temp file
    with pytest.raises(WriteError) as caught:
        atomic_write_text(target, "{}")
    assert str(caught.value) == f"{target}: {PHRASES[code]}" and caught.value.errno == code
    assert ".tmp" not in str(caught.value)
    assert not list(tmp_path.iterdir())  # the temp file is gone, no target was made


@pytest.mark.parametrize("code", sorted(PHRASES))
def test_a_temp_file_that_cannot_be_made_names_the_target(tmp_path, monkeypatch, code):
    target = tmp_path / "clip.mp4"
    monkeypatch.setattr(atomic_module.tempfile, "mkstemp",
                        lambda dir, prefix, suffix: fail_with(code)(os.path.join(dir, prefix + "x" + suffix)))
    with pytest.raises(WriteError, match=PHRASES[code]) as caught:
        with atomic_path(target):
            pass
    assert caught.value.filename == str(target)


def test_no_space_while_writing_says_so_on_one_line_with_exit_code_1(tmp_path, monkeypatch, capsys):
    target = tmp_path / "grades.csv"
    class Full(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_module.os, "fdopen", lambda fd, mode, **kw: Full(fd, "wb"))

    def write(_args):
        with atomic_write(target) as f:
            f.write(b"x" * 100)
        return 0

    assert run_command("fsth course grade", write, None) == 1
    err = capsys.readouterr().err
    assert err == (f"fsth course grade: error: {target}: no space left on device; free some space or choose "
                   "another disk\n")
    assert not list(tmp_path.iterdir())


def test_torch_save_on_a_full_disk_is_told_apart_by_the_free_space(tmp_path, monkeypatch):
    """torch.save turns the disk's ENOSPC into a bare RuntimeError ("unexpected pos"); a full disk says so."""

    class FillsUp(io.FileIO):
        written = 0

        def write(self, data):
            self.written += len(data)
            if self.written > 2000:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(data)

    monkeypatch.setattr(atomic_module.os, "fdopen", lambda fd, mode, **kw: FillsUp(fd, "wb"))
    monkeypatch.setattr(atomic_module.shutil, "disk_usage", lambda p: Usage(10**9, 10**9, 4096))
    target = tmp_path / "step-00000100.pt"
    with pytest.raises(WriteError) as caught:
        save_checkpoint(target, {"model": {"w": torch.zeros(100_000)}})
    assert str(caught.value) == f"{target}: no space left on device"
    assert isinstance(caught.value.__cause__, RuntimeError)  # torch's own error, kept for --verbose
    assert describe(caught.value) == (f"{target}: no space left on device; free some space or choose another disk", 1)
    assert not list(tmp_path.iterdir())


def test_a_runtime_error_with_space_to_spare_is_not_called_a_full_disk(tmp_path, monkeypatch):
    def broken(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", broken)
    monkeypatch.setattr(atomic_module.shutil, "disk_usage", lambda p: Usage(10**12, 10**9, 10**11))
    with pytest.raises(RuntimeError, match="unexpected pos") as caught:
        save_checkpoint(tmp_path / "a.pt", {"step": 1})
    assert not isinstance(caught.value, WriteError)


def test_an_error_about_another_file_inside_the_write_is_left_as_it_is(tmp_path):
    other = str(tmp_path / "input.bin")
    with pytest.raises(OSError) as caught:
        with atomic_write(tmp_path / "out.bin") as f:
            f.write(b"x")
            raise PermissionError(errno.EACCES, "Permission denied", other)
    assert not isinstance(caught.value, WriteError) and caught.value.filename == other


def test_a_245_character_target_name_gets_a_temp_name_that_fits_in_255_bytes(tmp_path, monkeypatch):
    made = []
    real_mkstemp = atomic_module.tempfile.mkstemp

    def recording(**kwargs):
        fd, name = real_mkstemp(**kwargs)
        made.append(os.path.basename(name))
        return fd, name

    monkeypatch.setattr(atomic_module.tempfile, "mkstemp", recording)
    long_json = tmp_path / ("n" * 240 + ".json")  # 245 characters, a valid name
    long_pt = tmp_path / ("c" * 242 + ".pt")
    long_png = tmp_path / ("é" * 120 + ".png")  # 244 bytes in UTF-8
    atomic_write_text(long_json, "{}")
    save_checkpoint(long_pt, {"step": 3})
    save_image(long_png, np.zeros((8, 8, 3), np.uint8))  # Pillow still picks PNG from the temp's extension

    assert long_json.read_text() == "{}" and load_checkpoint(long_pt)["step"] == 3
    assert read_image(long_png).shape == (8, 8, 3)
    # the fourth: the image's copy with its Content Credentials, signed next to it
    assert len(made) == 4 and all(len(os.fsencode(name)) <= 255 for name in made)
    assert made[2].endswith(".tmp.png") and made[3].startswith(".c2pa.") and made[3].endswith(".tmp.png")
    assert all(atomic_module._TEMP_NAME.match(name) for name in made)  # stale_temps would find them
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([long_json.name, long_pt.name, long_png.name])


def test_short_names_keep_their_readable_temp_names(tmp_path):
    assert atomic_module._temp_affixes("clip.mp4") == {"prefix": ".clip.mp4.", "suffix": ".tmp.mp4"}
    with atomic_path(tmp_path / "clip.mp4") as tmp:
        assert tmp.name.startswith(".clip.mp4.") and tmp.name.endswith(".tmp.mp4")
        assert stale_temps(tmp_path) == [tmp]


def test_a_target_name_too_long_for_the_file_system_says_file_name_too_long(tmp_path):
    target = tmp_path / ("x" * 300 + ".json")
    with pytest.raises(WriteError) as caught:
        atomic_write_text(target, "{}")
    assert caught.value.errno == errno.ENAMETOOLONG
    assert str(caught.value) == f"{target}: file name too long"
    assert describe(caught.value)[0] == f"{target}: file name too long; choose a shorter name"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_without_write_permission_says_permission_denied(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteError) as caught:
            save_checkpoint(folder / "model.pt", {"step": 1})
    finally:
        folder.chmod(0o700)
    assert str(caught.value) == f"{folder / 'model.pt'}: permission denied"


def test_the_low_space_check_reads_the_targets_disk(tmp_path):
    assert atomic_module._disk_full(tmp_path) == (shutil.disk_usage(tmp_path).free < atomic_module.LOW_SPACE)
    assert atomic_module._disk_full(tmp_path / "missing") is False
