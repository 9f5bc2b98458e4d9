"""Driving a real browser for the course: JupyterLab headless on localhost with a random token,
and Debian's Chromium through Playwright (``executable_path``, never ``playwright install``).

Shared by ``tests/test_browser.py`` (the landmark scrubber moves in a real browser) and
``benchmarks/notebook_screenshots.py`` (docs/screenshots), so neither imports the other: a script
never imports ``tests`` (tests/test_architecture.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = os.environ.get("FSTH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def browser_missing() -> str | None:
    """Why the browser check can't run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; no 'playwright install' needed)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(root: Path, env: dict | None = None, timeout: float = 90) -> Iterator[tuple[str, str]]:
    """JupyterLab serving ``root`` on a free localhost port with a random token; yields
    (base URL, token). Its config, settings and runtime files live next to ``root``, not in
    the home directory."""
    state = root.parent / f".{root.name}-jupyter"
    settings = state / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, **(env or {}), "JUPYTER_CONFIG_DIR": str(state / "config"),
           "JUPYTER_RUNTIME_DIR": str(state / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"), "HF_HUB_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.extension_manager=readonly"]  # no extension look-ups on PyPI
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    log = open(state / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"JupyterLab did not start: {(state / 'jupyterlab.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 860, args: tuple[str, ...] = ()):
    """A page of a headless Chromium; ``args``: more command-line switches (e.g. :func:`fake_camera_args`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *args], headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def fake_camera_args(y4m: Path) -> list[str]:
    """Chromium's switches for a camera that plays ``y4m`` (a .y4m video, looped) and is granted
    without asking."""
    return ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}"]


def write_y4m(path: Path, frames, fps: int = 25) -> Path:
    """Frames uint8 RGB (H, W, 3), all one size with even sides, as a YUV4MPEG2 file (4:2:0): what
    Chromium's fake camera plays."""
    import cv2

    path = Path(path)
    with open(path, "wb") as f:
        for i, frame in enumerate(frames):
            height, width = frame.shape[:2]
            if i == 0:
                f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def run_code(page, code: str) -> None:
    """Run ``code`` in the kernel of the notebook open in ``page`` (not in a cell); raise if it fails."""
    failed = page.evaluate("""async (code) => {
        const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
        let failed = null;
        const future = kernel.requestExecute({ code, store_history: false });
        future.onIOPub = (msg) => {
            if (msg.header.msg_type === 'error') failed = msg.content.ename + ': ' + msg.content.evalue;
        };
        await future.done;
        return failed;
    }""", code)
    if failed:
        raise AssertionError(f"the kernel failed to run {code[:80]!r}: {failed}")


def open_and_run(page, url: str, token: str, notebook: str, timeout_s: float = 300) -> None:
    """Open ``notebook`` in JupyterLab, wait for its kernel, run all cells, wait until every
    code cell has run; raise if any cell shows an error."""
    page.goto(f"{url}/lab/tree/{notebook}?reset&token={token}")  # reset: no tabs restored from a workspace
    current = ("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
               f" return w && w.context && w.context.path === {json.dumps(notebook)} && w.sessionContext; }}")
    page.wait_for_function(current, timeout=90_000)
    page.evaluate("""async () => {
        const panel = window.jupyterapp.shell.currentWidget;
        await panel.context.ready;
        await panel.sessionContext.ready;
        await window.jupyterapp.commands.execute('notebook:run-all-cells');
    }""")
    # done when every code cell has run, or a cell failed (run-all stops there); the kernel idle
    page.wait_for_function("""() => {
        const panel = window.jupyterapp.shell.currentWidget;
        const cells = panel.content.widgets.filter(c => c.model.type === 'code');
        const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
        const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
        return kernel && kernel.status === 'idle' && (failed || cells.every(c => c.model.executionCount !== null));
    }""", timeout=timeout_s * 1000, polling=500)
    errors = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .filter(c => c.model.type === 'code')
        .flatMap(c => c.model.outputs.toJSON())
        .filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)""")
    if errors:
        raise AssertionError(f"{notebook}: cells failed in the browser: {errors}")


def scroll_to(page, selector: str, index: int = 0):
    """Bring the index-th element matching ``selector`` into view (cells render lazily)."""
    locator = page.locator(selector).nth(index)
    locator.scroll_into_view_if_needed(timeout=30_000)
    return locator
