"""A landmark tracker for a camera stream: dlib's shape predictor on a box that follows the face.

Full face detection (dlib's HOG detector, ``fsth.landmarks.detect.FaceBoxes``, tens of
milliseconds on a 640 px frame) is too slow for every frame of a live loop; dlib's 68-point
shape predictor on a given box takes a millisecond or two. So the tracker detects once, then
runs the predictor on a box made from the previous frame's landmarks, and searches again (a
window around the face first, then the whole frame) only when the tracked shape is implausible:

- the face leaves the frame: a point lies outside it by more than ``max_outside`` of the box side
  (a chin cut off by the frame's edge is fine: the predictor places it where it would be);
- the face's centre jumps by more than ``max_jump`` of its box side from one frame to the next;
- its size changes by more than ``max_scale`` (or its inverse) from one frame to the next;
- its eye-corner distance, as a share of its size, leaves ``shape_tolerance`` of the share at
  the last detection (a collapsed or smeared shape: the predictor fitting something else);
- the picture in its box is flat (grey levels spread less than ``min_contrast``: a covered or
  dark camera), where the predictor would still draw a face;
- the picture in its box, shrunk to 16 x 16 grey levels, correlates less than ``min_similarity``
  with the previous frame's (normalised cross-correlation: at least ~0.8 from one frame of a face
  to the next on the sample clips, ~0.3 where the face jumped away and the predictor drew one on
  the wall behind it).

The box a landmark shape gives is calibrated on HOG's boxes: their centre and sides are kept in
units of the landmarks' own centre and spread (root-mean-square distance from their centre),
averaged over the detections, so the predictor sees boxes like the ones it was trained on.

A box made from the last frame's points can drift when a hand covers the face (the predictor's
guess moves the next box, and so on). So every ``verify_every`` frames HOG searches a small
window around the tracked face, scaled so the face is about :data:`LOCAL_FACE` px wide (a few
milliseconds instead of tens): where it finds the face, the predictor runs on HOG's box and the
drift is gone; where it doesn't (a hand, a turned head), tracking goes on, but after ``lost_after``
such searches in a row the face counts as lost (the predictor finds a face in anything: without
this, a face that left would be "tracked" on the wall behind it). A lost face is looked for in
that window first, then in the whole frame.

It reuses the HOG detector and the shape predictor that ``fsth.landmarks.detect.DlibDetector``
loads, and counts ``detections`` (searches of the whole frame), ``local_searches`` (of the
window), ``tracked`` frames and ``missed`` frames (no face found).

    tracker = LandmarkTracker()
    for frame in camera:                 # uint8 RGB (H, W, 3)
        points = tracker(frame)          # (68, 2) float32 in frame pixels, or None: no face
"""
from __future__ import annotations

import cv2
import numpy as np

from ..landmarks.detect import DlibDetector
from ..landmarks.parts import LEFT_EYE_OUTER, RIGHT_EYE_OUTER

MAX_JUMP = 0.25  # of the box side, per frame
MAX_SCALE = 1.2  # size ratio between consecutive frames
SHAPE_TOLERANCE = 0.35  # relative change of eye distance / spread allowed since the last detection
MAX_OUTSIDE = 0.2  # of the box side: how far a point may lie outside the frame
VERIFY_EVERY = 10  # frames between searches of the window around the tracked face (0: never)
LOCAL_FACE = 90  # px: the face's width in the window HOG searches (HOG finds faces from 80 px)
CALIBRATION_WEIGHT = 0.3  # weight of a new HOG box in the running box calibration
MIN_CONTRAST = 8.0  # grey levels: the least standard deviation of a face's box
LOST_AFTER = 3  # window searches in a row that don't find the face: it is lost
MIN_SIMILARITY = 0.5  # least correlation of the box's picture with the previous frame's
PATCH = 16  # px: the side of the pictures compared


def spread(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The landmarks' centre (2,) and spread: root-mean-square distance from it (a size that
    doesn't change with the head's roll)."""
    centre = points.mean(0)
    return centre, float(np.sqrt(((points - centre) ** 2).sum(1).mean()))


class LandmarkTracker:
    """68 landmarks of the largest face, frame after frame (see the module's docstring).

    detector: a ``DlibDetector`` (default: a new one); max_jump, max_scale, shape_tolerance,
    max_outside, min_contrast, min_similarity: the limits of a plausible tracked shape;
    verify_every: frames between searches of the window around the face (0: never); lost_after:
    searches of the window in a row that don't find the face before it counts as lost."""

    def __init__(self, detector: DlibDetector | None = None, max_jump: float = MAX_JUMP,
                 max_scale: float = MAX_SCALE, shape_tolerance: float = SHAPE_TOLERANCE,
                 max_outside: float = MAX_OUTSIDE, min_contrast: float = MIN_CONTRAST,
                 min_similarity: float = MIN_SIMILARITY, verify_every: int = VERIFY_EVERY,
                 lost_after: int = LOST_AFTER):
        self.detector = detector or DlibDetector()
        self.max_jump, self.max_scale, self.shape_tolerance = max_jump, max_scale, shape_tolerance
        self.max_outside, self.min_contrast, self.min_similarity = max_outside, min_contrast, min_similarity
        self.verify_every, self.lost_after = verify_every, lost_after
        self._box_fit: np.ndarray | None = None  # HOG's box (centre x, y, width, height) in units of the spread
        self._eye_share = 0.0  # eye-corner distance / spread, averaged over HOG's finds
        self.reset()

    def reset(self) -> None:
        """Forget the face (the next frame is searched whole) and start the counters again."""
        self.points: np.ndarray | None = None  # the last frame's landmarks
        self.detections = self.local_searches = self.tracked = self.missed = 0
        self._age = 0  # frames since HOG last searched the window
        self._unconfirmed = 0  # window searches in a row that didn't find the face
        self._patch: np.ndarray | None = None  # the last frame's box, PATCH x PATCH, normalised
        self._candidate: np.ndarray | None = None  # the same for the points being checked

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        """Landmarks (68, 2) float32 of the face in ``image`` (uint8 RGB (H, W, 3)), or None."""
        if self.points is not None and self.verify_every and self._age >= self.verify_every:
            found = self._search_near(image, self.points)
            if found is not None:
                return found
            self._age, self._unconfirmed = 0, self._unconfirmed + 1
            if self._unconfirmed >= self.lost_after:
                self.points = None  # HOG hasn't seen it for a while: lost
        if self.points is not None:
            points = self._predict(image, self.box(self.points))
            if self.plausible(points, image):
                self.points, self._age, self._patch = points, self._age + 1, self._candidate
                self.tracked += 1
                return points
            found = self._search_near(image, self.points)
            if found is not None:
                return found
        return self._detect(image)

    def box(self, points: np.ndarray) -> np.ndarray:
        """The box (x0, y0, x1, y1) HOG would give around ``points``."""
        centre, size = spread(points)
        cx, cy, w, h = self._box_fit * size + [*centre, 0, 0]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)

    def plausible(self, points: np.ndarray, image: np.ndarray) -> bool:
        """Whether ``points`` in ``image`` can follow the previous frame's (the limits of the module's
        docstring)."""
        height, width = image.shape[:2]
        (centre, size), (last_centre, last_size) = spread(points), spread(self.points)
        side = self._box_fit[2] * last_size
        outside = max(-points.min(), points[:, 0].max() - (width - 1), points[:, 1].max() - (height - 1))
        if outside > self.max_outside * side or np.linalg.norm(centre - last_centre) > self.max_jump * side:
            return False
        if not 1 / self.max_scale <= size / max(last_size, 1e-6) <= self.max_scale:
            return False
        if abs(_eye_share(points, size) / self._eye_share - 1) > self.shape_tolerance:
            return False
        box = self.box(points)
        if _contrast(image, box) < self.min_contrast:
            return False
        self._candidate = _patch(image, box)
        return self._patch is None or float(self._candidate @ self._patch) >= self.min_similarity

    def _predict(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        return self.detector._points([image], [box])[0]  # dlib's shape predictor on one box

    def _found(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The landmarks in HOG's ``box``; its calibration joins the running one."""
        points = self._predict(image, box)
        centre, size = spread(points)
        fit = np.array([(box[0] + box[2]) / 2 - centre[0], (box[1] + box[3]) / 2 - centre[1],
                        box[2] - box[0], box[3] - box[1]]) / max(size, 1e-6)
        share = _eye_share(points, size)
        if self._box_fit is None:
            self._box_fit, self._eye_share = fit, share
        else:
            w = CALIBRATION_WEIGHT
            self._box_fit, self._eye_share = (1 - w) * self._box_fit + w * fit, (1 - w) * self._eye_share + w * share
        self.points, self._age, self._unconfirmed = points, 0, 0
        self._patch = _patch(image, self.box(points))
        return points

    def _detect(self, image: np.ndarray) -> np.ndarray | None:
        """A search of the whole frame; the largest face."""
        self.detections += 1
        boxes = self.detector.boxes(image)  # largest first
        if not boxes:
            self.points = None
            self.missed += 1
            return None
        return self._found(image, boxes[0])

    def _search_near(self, image: np.ndarray, points: np.ndarray) -> np.ndarray | None:
        """HOG in a window twice the tracked box's side, scaled so the face is LOCAL_FACE px wide;
        the landmarks in the box most like the tracked one, or None if HOG finds none there."""
        self.local_searches += 1
        tracked = self.box(points)
        side = float(tracked[2] - tracked[0])
        centre = (tracked[:2] + tracked[2:]) / 2
        height, width = image.shape[:2]
        x0, y0 = (max(0, int(c - side)) for c in centre)
        x1, y1 = min(width, int(centre[0] + side)), min(height, int(centre[1] + side))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        gray = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
        scale = min(LOCAL_FACE / max(side, 1.0), 4.0)
        boxes = [b + [x0, y0, x0, y0] for b in self.detector.boxes._search(gray, scale)]
        overlaps = [_overlap(b, tracked) for b in boxes]
        if not boxes or max(overlaps) < 0.3:
            return None
        self.tracked += 1
        return self._found(image, boxes[int(np.argmax(overlaps))])


def _eye_share(points: np.ndarray, size: float) -> float:
    return float(np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER]) / max(size, 1e-6))


def _contrast(image: np.ndarray, box: np.ndarray) -> float:
    """Standard deviation of the green channel (luma, near enough) in ``box``, on about 32 x 32 samples."""
    height, width = image.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(box[2]) + 1), min(height, int(box[3]) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0.0
    step = max(1, min(x1 - x0, y1 - y0) // 32)
    return float(image[y0:y1:step, x0:x1:step, 1].std())


def _patch(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The green channel in ``box`` shrunk to PATCH x PATCH, less its mean, of unit norm: (PATCH²,)."""
    height, width = image.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(box[2]) + 1), min(height, int(box[3]) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros(PATCH * PATCH, np.float32)
    small = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1, 1]), (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    vector = small.astype(np.float32).ravel()
    vector -= vector.mean()
    return vector / max(float(np.linalg.norm(vector)), 1e-6)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0
