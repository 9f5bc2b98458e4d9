"""Facial landmarks: 68-point detection, landmark images, landmark adaptation and smoothing over time."""
from .detect import BACKENDS, NoFaceError, LandmarkDetector, create_detector
from .draw import draw_landmarks, line_width, overlay_landmarks
from .parts import NUM_POINTS, PARTS, PART_COLORS
from .smooth import SMOOTHING_METHODS, OneEuroFilter, smooth_landmarks

__all__ = ["BACKENDS", "NoFaceError", "LandmarkDetector", "create_detector", "draw_landmarks",
           "line_width", "overlay_landmarks", "NUM_POINTS", "PARTS", "PART_COLORS", "SMOOTHING_METHODS",
           "OneEuroFilter", "smooth_landmarks"]
