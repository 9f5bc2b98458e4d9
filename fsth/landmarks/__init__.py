"""Facial landmarks: 68-point detection, landmark images, and landmark adaptation."""
from .detect import BACKENDS, NoFaceError, LandmarkDetector, create_detector
from .draw import draw_landmarks, line_width, overlay_landmarks
from .parts import NUM_POINTS, PARTS, PART_COLORS

__all__ = ["BACKENDS", "NoFaceError", "LandmarkDetector", "create_detector", "draw_landmarks",
           "line_width", "overlay_landmarks", "NUM_POINTS", "PARTS", "PART_COLORS"]
