"""One writer per run folder (fsth.train.lock): a second run is refused naming the first one's pid,
a lock left by a dead run is taken over, and the lock goes when the run ends, however it ends."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from fsth.cli import main
from fsth.errors import InUseError
from fsth.io.checkpoint import list_checkpoints
from fsth.train import meta
from fsth.train.config import TrainConfig
from fsth.train.lock import LOCK_NAME, RunLock
from tests.helpers import SMALL_MODEL

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="run folders are locked with fcntl.flock")

HOLD = ("import sys\nfrom fsth.train.lock import RunLock\n"
        "lock = RunLock(sys.argv[1]).acquire()\nprint('held', flush=True)\nsys.stdin.read()\nlock.release()\n")


def config(data, out, **overrides):
    base = dict(data=str(data), out=str(out), model=SMALL_MODEL, k=3, batch_size=2, steps=1, vgg19=None,
                log_every=1, image_every=0, checkpoint_every=1, optim={"amp": "none"})
    return TrainConfig(**{**base, **overrides})


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of tmp_path / "run" until the test ends (or kills it)."""
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=30)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_writer_into_the_same_run_folder_is_refused_naming_the_holders_pid(holder, clip_folder, tmp_path,
                                                                                   capsys):
    run = tmp_path / "run"
    code = main(["train", "--data", str(clip_folder), "--out", str(run), "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("fsth train: error: ")
    assert f"pid {holder.pid}" in err and str(run) in err and "Traceback" not in err
    assert not list_checkpoints(run) and (run / LOCK_NAME).exists()  # nothing written, the holder's lock kept


def test_the_python_api_refuses_a_busy_run_folder_before_any_work(holder, clip_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(meta, "start_run", lambda config: pytest.fail("a refused run must do no work"))
    with pytest.raises(InUseError, match=f"pid {holder.pid}"):
        meta.train(config(clip_folder, tmp_path / "run"), progress=False)


def test_the_folder_is_free_again_once_its_holder_ends(holder, tmp_path):
    with pytest.raises(InUseError):
        RunLock(tmp_path / "run").acquire()
    holder.stdin.close()
    holder.wait(timeout=30)
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # released and removed by its holder
    with RunLock(tmp_path / "run"):
        pass


def test_a_holder_killed_without_releasing_leaves_a_lock_the_next_run_takes_over(holder, tmp_path, caplog):
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert (tmp_path / "run" / LOCK_NAME).read_text().split()[0] == str(holder.pid)  # the stale lock file
    with caplog.at_level(logging.WARNING, logger="fsth.train.lock"), RunLock(tmp_path / "run") as lock:
        assert lock.path.read_text().split()[0] == str(os.getpid())
    assert f"pid {holder.pid}" in caplog.text and "took over" in caplog.text


def test_a_stale_lock_of_a_dead_pid_is_recovered_with_a_warning_and_training_runs(clip_folder, tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    pid = dead_pid()
    (run / LOCK_NAME).write_text(f"{pid} {socket.gethostname()}\n")
    with caplog.at_level(logging.WARNING, logger="fsth.train.lock"):
        summary = meta.train(config(clip_folder, run), progress=False)
    assert summary["step"] == 1 and list_checkpoints(run)
    assert f"pid {pid}" in caplog.text
    assert not (run / LOCK_NAME).exists()  # released at the end


def test_a_lock_file_with_our_own_pid_but_no_lock_is_stale_too(tmp_path, caplog):
    """A container restarted under the same pid finds its own pid in the lock file: nobody holds it."""
    (tmp_path / LOCK_NAME).write_text(f"{os.getpid()}\n")
    with caplog.at_level(logging.WARNING, logger="fsth.train.lock"), RunLock(tmp_path):
        pass
    assert f"pid {os.getpid()}" in caplog.text and not (tmp_path / LOCK_NAME).exists()


def test_two_runs_in_one_process_are_refused_too(tmp_path):
    with RunLock(tmp_path) as lock:
        assert lock.acquire() is lock  # the same lock again: still held, nothing leaked
        with pytest.raises(InUseError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    RunLock(tmp_path).acquire().release()


def test_the_lock_is_released_when_the_run_fails(clip_folder, tmp_path, monkeypatch):
    run = tmp_path / "run"

    def fails(config):
        assert (run / LOCK_NAME).exists()  # held while the run starts
        raise RuntimeError("the data broke")

    monkeypatch.setattr(meta, "start_run", fails)
    with pytest.raises(RuntimeError, match="the data broke"):
        meta.train(config(clip_folder, run), progress=False)
    assert not (run / LOCK_NAME).exists()
    RunLock(run).acquire().release()


def test_a_lock_held_on_another_host_names_that_host(tmp_path):
    lock = RunLock(tmp_path).acquire()
    try:
        os.pwrite(lock._fd, b"4321 other-machine          \n", 0)
        with pytest.raises(InUseError, match="pid 4321 on host other-machine"):
            RunLock(tmp_path).acquire()
    finally:
        lock.release()


def test_only_rank_zero_takes_the_lock(tmp_path, monkeypatch, clip_folder):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    seen = []
    monkeypatch.setattr(meta, "_train", lambda config, progress: seen.append((tmp_path / LOCK_NAME).exists()))
    with RunLock(tmp_path):  # rank 0 holds it; rank 1 goes on
        meta.train(config(clip_folder, tmp_path), progress=False)
    assert seen == [True]
