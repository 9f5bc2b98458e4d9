"""Screenshots of course notebooks in JupyterLab, after running them in headless Chromium.

    python benchmarks/notebook_screenshots.py                # docs/screenshots/*.png
    python benchmarks/notebook_screenshots.py --notebooks 01_landmarks --out /tmp/shots

Each notebook is copied to a temporary folder (JupyterLab's autosave never touches the
repository), run top to bottom in FAST mode, scrolled to its widget (the picture and the
control under it), and captured; the PNG is palette-quantised to stay small. Notebooks
07 and 09 reuse the course model in the fsth cache (``FSTH_COURSE_DIR``), or train one.
Needs /usr/bin/chromium and the playwright package (see benchmarks/browser.py, shared with
tests/test_browser.py).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.browser import browser_missing, chromium_page, jupyterlab, open_and_run, scroll_to  # noqa: E402

# notebook -> the widget to frame: its cell's output (picture and control) is scrolled into view
DEFAULT = {"01_landmarks": ".widget-hslider", "06_meta_learning": ".widget-toggle-buttons",
           "07_few_shot_finetuning": ".widget-hslider", "09_detectability": ".widget-hslider"}


def capture(page, selector: str, path: Path, colours: int = 128) -> Path:
    from PIL import Image

    widget = scroll_to(page, selector)
    cell = page.locator(".jp-CodeCell", has=page.locator(selector)).first
    # the picture and its control at the bottom of the view, the code that made them above
    cell.locator(".jp-Cell-outputWrapper").first.evaluate("el => el.scrollIntoView({block: 'end'})")
    page.wait_for_timeout(800)  # let the scroll and the images settle
    if widget.count() == 0:
        raise RuntimeError(f"no {selector} on the page")
    page.screenshot(path=str(path))
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", nargs="+", default=list(DEFAULT))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=820)
    args = parser.parse_args(argv)
    reason = browser_missing()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "notebooks"
        root.mkdir()
        for name in args.notebooks:
            shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", root)
        with jupyterlab(root) as (url, token):
            for name in args.notebooks:
                started = time.perf_counter()
                with chromium_page(args.width, args.height) as page:  # a fresh page per notebook
                    try:
                        open_and_run(page, url, token, f"{name}.ipynb")
                    except Exception:
                        page.screenshot(path=str(out / f"{name}-failed.png"))
                        raise
                    path = capture(page, DEFAULT.get(name, ".widget-hslider"), out / f"{name}.png")
                print(f"{path}: {path.stat().st_size / 1024:.0f} KB ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
