"""The 68-point face landmark convention (iBUG 300-W / dlib / FAN) and its parts.

Every landmark array in fsth is float32 of shape (68, 2) or (T, 68, 2), x then y,
in pixel coordinates of the image it belongs to (pixel centres at integer values).
"""
from __future__ import annotations

NUM_POINTS = 68

# name -> (first index, last index + 1, closed polygon?)
PARTS: dict[str, tuple[int, int, bool]] = {
    "jaw": (0, 17, False),
    "right_brow": (17, 22, False),  # the person's right: left side of the image
    "left_brow": (22, 27, False),
    "nose_bridge": (27, 31, False),
    "lower_nose": (31, 36, False),
    "right_eye": (36, 42, True),
    "left_eye": (42, 48, True),
    "outer_lip": (48, 60, True),
    "inner_lip": (60, 68, True),
}

# One RGB colour per part: distinct hues so the generator can tell parts apart.
PART_COLORS: dict[str, tuple[int, int, int]] = {
    "jaw": (255, 255, 255),
    "right_brow": (255, 128, 0),
    "left_brow": (255, 220, 0),
    "nose_bridge": (0, 200, 255),
    "lower_nose": (0, 90, 255),
    "right_eye": (0, 255, 64),
    "left_eye": (160, 255, 0),
    "outer_lip": (255, 0, 80),
    "inner_lip": (200, 0, 255),
}

# Useful single points.
RIGHT_EYE_OUTER = 36  # outer corner of the person's right eye
LEFT_EYE_OUTER = 45
MOUTH_RIGHT = 48
MOUTH_LEFT = 54
NOSE_TIP = 30
CHIN = 8

# Mirror permutation: index i of a horizontally flipped face is FLIP_PERMUTATION[i].
FLIP_PERMUTATION = (
    list(range(16, -1, -1))  # jaw
    + list(range(26, 21, -1)) + list(range(21, 16, -1))  # brows swap
    + [27, 28, 29, 30] + [35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]  # eyes swap
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lip
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lip
)
