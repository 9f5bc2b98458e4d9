"""Who a synthetic head is: face shape and proportions, colours, hair, accessories, scene.

Every length is in centimetres on the head (see ``head.py`` for the axes), every colour RGB 0-255.
An :class:`Identity` is drawn from a random generator, so one seed always gives the same person.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, fields

import numpy as np

# Skin albedo from light to dark (sRGB); identities blend two neighbours. Hair from dark to light.
SKIN_TONES = np.array([[250, 222, 200], [238, 196, 168], [224, 170, 136], [200, 140, 106],
                       [168, 110, 78], [128, 84, 58], [92, 60, 42]], np.float64)
HAIR_COLOURS = np.array([[28, 24, 22], [55, 38, 28], [98, 66, 44], [140, 72, 40], [186, 150, 96],
                         [222, 198, 150], [150, 146, 142], [210, 206, 198]], np.float64)
IRIS_COLOURS = np.array([[62, 38, 24], [96, 60, 34], [112, 96, 52], [72, 112, 72], [70, 112, 160],
                         [112, 124, 136]], np.float64)
HAIR_STYLES = ("bald", "short", "medium", "long")
BEARDS = ("none", "stubble", "moustache", "full")
GLASSES = ("none", "round", "square")
BACKGROUNDS = ("flat", "gradient", "texture")

Colour = tuple[float, float, float]


@dataclass(frozen=True)
class Identity:
    """One synthetic person. Lengths in cm, angles in degrees, colours RGB 0-255."""
    # face mask: a superellipsoid around the eye line (head.py)
    face_width: float  # half width at eye level
    face_top: float  # eye line to the top of the forehead
    face_bottom: float  # eye line to the chin
    face_depth: float  # eye line (on the head axis) to the front of the face
    jaw_square: float  # outline exponent: 2 oval .. 3 square
    face_flat: float  # depth exponent: 2 round .. 3 flat front
    jaw_top: float  # height of jaw points 0 and 16 below the eye line
    # features
    eye_gap: float  # half distance between the eye centres
    eye_width: float
    eye_open: float  # upper lid height above the corner line
    eye_tilt: float  # degrees, outer corners up
    brow_height: float  # eye line to the top of the brow's arch
    brow_arch: float  # arch height over the brow's ends
    brow_thickness: float
    nose_length: float  # eye line to the nose tip
    nose_width: float  # between the alar bases (points 31 and 35)
    nose_depth: float  # how far the tip stands out of the face
    mouth_y: float  # eye line to the mouth corners
    mouth_width: float  # half width
    upper_lip: float  # thickness at the centre
    lower_lip: float
    ear_size: float  # half height
    # head and hair
    skull_width: float  # half width of the skull (hair volume excluded)
    hair_volume: float
    hairline: float  # eye line to the hairline at the centre
    hair_style: str
    hair_seed: int  # draws the hair's strands
    # colours
    skin: Colour
    lips: Colour
    hair: Colour
    brows: Colour
    iris: Colour
    clothes: Colour
    # accessories
    beard: str
    glasses: str
    glasses_colour: Colour
    # scene (clips add small changes, render.py)
    background: str
    background_colours: tuple[Colour, Colour]
    light: tuple[float, float, float]  # unit vector towards the light, camera axes
    ambient: float

    @classmethod
    def from_dict(cls, params: dict) -> Identity:
        """Rebuild an identity from ``dataclasses.asdict`` output, e.g. a clip's ``identity_params``
        (JSON turned its tuples into lists), to render the same person in new poses."""
        tuples = lambda v: tuple(tuples(x) for x in v) if isinstance(v, (list, tuple)) else v
        return cls(**{f.name: tuples(params[f.name]) for f in fields(cls)})


def _colour(rgb) -> Colour:
    return tuple(float(v) for v in np.clip(np.round(rgb), 0, 255))


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float, skew: float = 1.0) -> np.ndarray:
    """A random blend of two neighbouring palette colours (``skew`` > 1 favours the first ones), its
    brightness jittered by ``jitter`` (0-255 units) and its hue by a third of that."""
    i = (len(palette) - 1) * rng.uniform() ** skew
    low = int(i)
    blend = palette[low] + (i - low) * (palette[min(low + 1, len(palette) - 1)] - palette[low])
    return blend + rng.normal(0, jitter) + rng.normal(0, jitter / 3, 3)


def _hsv(rng: np.random.Generator, saturation=(0.1, 0.6), value=(0.25, 0.95)) -> np.ndarray:
    """A random colour from hue, saturation and value ranges."""
    hue = rng.uniform()
    return 255 * np.array(colorsys.hsv_to_rgb(hue, rng.uniform(*saturation), rng.uniform(*value)))


def random_identity(rng: np.random.Generator) -> Identity:
    """Draw a person: the same generator state always gives the same identity."""
    u = rng.uniform
    skin = _pick(rng, SKIN_TONES, 6)
    hair_style = HAIR_STYLES[rng.choice(4, p=[0.12, 0.38, 0.3, 0.2])]
    hair = _pick(rng, HAIR_COLOURS, 8, skew=1.8)  # dark hair is the most common
    beard = BEARDS[rng.choice(4, p=[0.6, 0.15, 0.1, 0.15])]
    glasses = GLASSES[rng.choice(3, p=[0.7, 0.15, 0.15])]
    light = np.array([u(-0.7, 0.7), u(-0.8, 0.1), -1.0])
    return Identity(
        face_width=u(6.9, 7.9), face_top=u(8.2, 9.4), face_bottom=u(11.4, 13.0), face_depth=u(7.6, 8.8),
        jaw_square=u(2.0, 3.1), face_flat=u(2.3, 3.0), jaw_top=u(-0.2, 0.6),
        eye_gap=u(3.05, 3.45), eye_width=u(2.35, 2.75), eye_open=u(0.42, 0.6), eye_tilt=u(-4, 8),
        brow_height=u(2.1, 2.7), brow_arch=u(0.5, 1.0), brow_thickness=u(0.35, 0.75),
        nose_length=u(3.5, 4.3), nose_width=u(2.6, 3.5), nose_depth=u(1.7, 2.5),
        mouth_y=u(6.6, 7.4), mouth_width=u(2.5, 3.1), upper_lip=u(0.45, 0.75), lower_lip=u(0.7, 1.1),
        ear_size=u(2.8, 3.4),
        skull_width=u(7.8, 8.4), hair_volume=u(0.3, 1.4) if hair_style != "bald" else 0.0,
        hairline=u(5.2, 7.0), hair_style=hair_style, hair_seed=int(rng.integers(2 ** 31)),
        skin=_colour(skin), lips=_colour(skin * [0.86, 0.6, 0.62] + rng.normal(0, 6, 3)),
        hair=_colour(hair), brows=_colour(np.minimum(hair, skin) * u(0.5, 0.8)),
        iris=_colour(_pick(rng, IRIS_COLOURS, 8)), clothes=_colour(_hsv(rng, (0.0, 0.8), (0.1, 0.9))),
        beard=beard, glasses=glasses, glasses_colour=_colour(_hsv(rng, (0.0, 0.7), (0.05, 0.6))),
        background=BACKGROUNDS[rng.integers(3)],
        background_colours=(_colour(_hsv(rng)), _colour(_hsv(rng))),
        light=tuple(float(v) for v in light / np.linalg.norm(light)), ambient=u(0.35, 0.55),
    )
