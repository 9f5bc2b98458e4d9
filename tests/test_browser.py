"""A real browser: JupyterLab, headless on localhost with a token, runs notebook 01 in Chromium;
the frame scrubber is moved with the keyboard and the picture follows; a screenshot is saved.

Needs Debian's Chromium (/usr/bin/chromium) and the ``playwright`` Python package, driven with
``executable_path`` — never ``playwright install``. Skips with the reason where either is missing.
The browser helpers live in ``benchmarks/browser.py``, shared with ``benchmarks/notebook_screenshots.py``.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from benchmarks.browser import browser_missing, chromium_page, jupyterlab, open_and_run, scroll_to

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, samples):
    reason = browser_missing()
    if reason and os.environ.get("CI"):  # CI installs Chromium (.ci/install-browser): a skip there hides a gap
        pytest.fail(f"browser test cannot run in CI: {reason}")
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("lab") / "notebooks"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "01_landmarks.ipynb", root)  # a copy: autosave never touches the repository
    with jupyterlab(root, env={"FSTH_COURSE_DIR": str(root.parent / "course")}) as (url, token):
        yield url, token


@pytest.mark.slow
def test_landmark_scrubber_moves_in_a_real_browser(lab, tmp_path):
    url, token = lab
    with chromium_page() as page:
        open_and_run(page, url, token, "01_landmarks.ipynb")
        slider = scroll_to(page, ".widget-hslider")
        readout = slider.locator(".widget-readout")
        assert readout.inner_text().strip() == "0"
        # the scrubber's picture is the image output just above the slider, in the same cell
        cell = page.locator(".jp-CodeCell", has=page.locator(".widget-hslider")).first
        picture = cell.locator(".jp-OutputArea-output img").first
        before = picture.get_attribute("src")
        assert before and before.startswith("data:image/png")

        handle = slider.locator(".noUi-handle").first
        handle.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("(el) => el.innerText.trim() === '5'", arg=readout.element_handle(), timeout=10_000)
        # the kernel's callback redraws the picture for frame 5 (the <img> may be replaced: re-query it)
        deadline = time.monotonic() + 30
        while picture.get_attribute("src") == before:
            assert time.monotonic() < deadline, "moving the slider did not redraw the picture"
            page.wait_for_timeout(250)
        shot = tmp_path / "01_landmarks-scrubbed.png"
        page.screenshot(path=str(shot))
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 860)
        assert len(image.getcolors(1 << 20) or range(1 << 20)) > 50  # a rendered page, not a blank one
