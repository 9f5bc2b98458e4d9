"""The 3D head: where every part of a synthetic face is, for an identity, a pose and an expression.

Head coordinates are centimetres. The origin is on the eye line (through the outer eye corners)
in the face's midplane; x points to the person's left (the image's right), y down and z away from
the camera, into the head: the face looks towards -z.

The face is a "mask", the front half of a superellipsoid

    (|x/a|^n + |y/b|^n)^(m/n) + |z/c|^m = 1      (b = face_top above the eye line, face_bottom below)

whose front surface carries eyes, brows, nose and mouth. The 17 jaw points are where the mask's
outline (its silhouette as the camera sees it) crosses fixed meridians, as in hand-annotated
68-point data, where the jaw follows the visible edge of the face. Behind the mask sit an
ellipsoid skull with a hair cap, the ears, a cylindrical neck and the shoulders.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .identity import Identity

EYE_RADIUS = 1.2  # eyeball
IRIS_RADIUS = 0.58
PUPIL_RADIUS = 0.22
LIP_GAP = 1.6  # inner lip opening with the mouth wide open (a quarter above, the rest below)
JAW_DROP = 1.3  # how far the chin moves down with the mouth wide open
EYE_REGION_GROW = 0.15  # cm the eye region reaches below the open lower lid and beyond the corners
HAIR_TILT = 0.35  # the hair's lower edge is this much (radians) lower at the back
HAIR_STRANDS = 120
UPPER_TEETH, LOWER_TEETH = 0.84, 0.7  # how far across the mouth the rows show (1: the inner corners)
UPPER_SEAMS = np.array([-0.74, -0.52, -0.28, 0.0, 0.28, 0.52, 0.74])  # between neighbouring teeth
LOWER_SEAMS = np.array([-0.46, -0.22, 0.0, 0.22, 0.46])
PIVOT = np.array([0.0, 7.0, 5.0])  # the head turns about the top of the neck
BODY_FOLLOWS = 0.3  # neck and shoulders turn this fraction of the head's rotation
_LID_T = np.linspace(0, 1, 13)[:, None]  # along an eye, corner to corner; holds 1/3 and 2/3 (landmarks)
_LID = np.sin(np.pi * _LID_T) ** 0.75 * [0, 1]  # lid shape
_BROW_T = np.linspace(0, 1, 17)  # along a brow, inner end to outer end; holds 0, 1/4, ... (landmarks)


@dataclass
class Pose:
    """Head pose and expression in one frame."""
    yaw: float = 0.0  # degrees; > 0 turns the face towards the image's right
    pitch: float = 0.0  # degrees; > 0 lifts the chin
    roll: float = 0.0  # degrees; > 0 turns the face clockwise in the image
    x: float = 0.0  # cm, head translation along the camera axes
    y: float = 0.0
    z: float = 0.0
    jaw: float = 0.0  # 0 closed .. 1 wide open
    smile: float = 0.0  # 0 .. 1
    blink: float = 0.0  # 0 open .. 1 closed
    brows: float = 0.0  # 0 rest .. 1 raised
    gaze_x: float = 0.0  # degrees the eyes look away from the camera, to the image's right
    gaze_y: float = 0.0  # ... and down
    light_yaw: float = 0.0  # degrees the light has turned from the scene's, towards the image's right
    light_pitch: float = 0.0  # ... and upwards


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) rotation from head axes to camera axes for angles in degrees (see :class:`Pose`)."""
    y, p, r = np.radians([yaw, pitch, roll])
    turn = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    nod = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    tilt = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return tilt @ nod @ turn


def pose_transform(pose: Pose, distance: float, follow: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(R, T) with camera = R @ head + T; ``follow`` < 1 turns only part of the way (the body)."""
    rot = rotation(pose.yaw * follow, pose.pitch * follow, pose.roll * follow)
    shift = np.array([pose.x, pose.y, distance + pose.z]) * [follow, follow, 1.0]
    return rot, PIVOT - rot @ PIVOT + shift


def _spow(value, power):
    """Signed power: sign(v) |v|^p."""
    return np.sign(value) * np.abs(value) ** power


def _ring(centre, axis_u, axis_v, count: int) -> np.ndarray:
    """(count, 3) points of the ellipse centre + cos(t) axis_u + sin(t) axis_v."""
    t = np.linspace(0, 2 * np.pi, count, endpoint=False)[:, None]
    return np.asarray(centre) + np.cos(t) * axis_u + np.sin(t) * axis_v


def ellipsoid_surface(centre, axes, polar, azimuth, tilt: float = 0.0) -> np.ndarray:
    """Points (..., 3) on an ellipsoid at polar angles from its top and azimuths (broadcast).

    ``tilt`` (radians) turns it about the x axis so that a cut at one polar angle is lower at the back.
    """
    polar, azimuth = np.broadcast_arrays(polar, azimuth)
    a, b, c = axes
    local = np.stack([a * np.sin(polar) * np.cos(azimuth), -b * np.cos(polar),
                      c * np.sin(polar) * np.sin(azimuth)], axis=-1)
    lean = np.array([[1, 0, 0], [0, np.cos(tilt), np.sin(tilt)], [0, -np.sin(tilt), np.cos(tilt)]])
    return local @ lean.T + np.asarray(centre)


def ellipsoid_points(centre, axes, lowest: float = np.pi, tilt: float = 0.0,
                     rings: int = 10, count: int = 28) -> np.ndarray:
    """A grid of points on an ellipsoid from its top down to polar angle ``lowest``: (rings * count, 3)."""
    polar = np.linspace(0, lowest, rings)[:, None]
    azimuth = np.linspace(0, 2 * np.pi, count, endpoint=False)[None, :]
    return ellipsoid_surface(centre, axes, polar, azimuth, tilt).reshape(-1, 3)


class FaceMask:
    """The superellipsoid face surface (see the module docstring)."""

    def __init__(self, who: Identity):
        self.a, self.top, self.bottom, self.c = who.face_width, who.face_top, who.face_bottom, who.face_depth
        self.n, self.m = who.jaw_square, who.face_flat

    def _b(self, y):
        return np.where(y > 0, self.bottom, self.top)

    def front_z(self, x, y):
        """Depth of the front surface at (x, y); points outside the outline get the rim depth 0."""
        s = np.minimum(np.abs(x / self.a) ** self.n + np.abs(y / self._b(y)) ** self.n, 1.0)
        return -self.c * (1 - s ** (self.m / self.n)) ** (1 / self.m)

    def point(self, rho, theta):
        """Surface points (..., 3) at outline fraction rho (0 centre, 1 rim) and angle theta.

        theta is measured from +x towards +y (down): pi / 2 is the chin.
        """
        rho, theta = np.broadcast_arrays(np.asarray(rho, float), np.asarray(theta, float))
        sin = np.sin(theta)
        x = self.a * rho * _spow(np.cos(theta), 2 / self.n)
        y = self._b(sin) * rho * _spow(sin, 2 / self.n)
        z = -self.c * (1 - rho ** self.m) ** (1 / self.m)
        return np.stack([x, y, z], axis=-1)

    def normal(self, p):
        """Unit outward normals (..., 3) of surface points."""
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        b = self._b(y)
        s = np.maximum(np.abs(x / self.a) ** self.n + np.abs(y / b) ** self.n, 1e-9) ** (self.m / self.n - 1)
        g = np.stack([s * _spow(x / self.a, self.n - 1) / self.a, s * _spow(y / b, self.n - 1) / b,
                      _spow(z / self.c, self.m - 1) / self.c], axis=-1)
        return g / np.linalg.norm(g, axis=-1, keepdims=True)


class Head:
    """The geometry of one identity: static point sets, and per frame the posed parts.

    ``parts(pose, viewpoint)`` returns named (N, 3) arrays in head coordinates; ``viewpoint`` is the
    camera's position in head coordinates (it decides the silhouette and where the eyes look).
    In part names, left and right are the image's.
    """

    def __init__(self, who: Identity):
        self.who = who
        self.mask = FaceMask(who)
        self._meridians()
        self.hairline_points = self._hairline_points()
        self.skull_centre = np.array([0.0, -2.5, 1.5])
        self.skull_axes = np.array([who.skull_width, 10.3, 10.0])
        self.skull = ellipsoid_points(self.skull_centre, self.skull_axes)
        self._hair()
        self.ears = []  # (outer, inner) rings, image left first: flaps standing back and out from the skull
        for s in (-1, 1):
            root = np.array([s * 0.92 * who.skull_width, 1.6, 1.2])
            back = np.array([s * np.sin(0.45), 0, np.cos(0.45)])
            size = np.array([0.0, who.ear_size, 0.0])
            self.ears.append((_ring(root + back * 1.5, back * 1.5, size, 20),
                              _ring(root + back * 1.3, back * 0.7, size * 0.55, 14)))
        self.eyeballs = [self.on_face(s * who.eye_gap, 0.05, -0.35 - EYE_RADIUS) for s in (-1, 1)]
        self.nose, self.glasses = self._nose(), self._glasses()
        neck_x, neck_z = 0.68 * who.face_width, 5.4
        self.neck = np.concatenate([_ring([0, y, 2.5], [neck_x, 0, 0], [0, 0, neck_z], 20)
                                    for y in (4.0, 28.0)])
        self.torso = np.concatenate([_ring([0, y, 4.0], [half_x, 0, 0], [0, 0, half_z], 24)
                                     for y, half_x, half_z in ((15.5, 11.0, 7.0), (18.5, 19.0, 10.0),
                                                               (45.0, 24.0, 12.0))])

    def _meridians(self):
        """Meridians (angles round the outline, chin = pi / 2) along which the silhouette is found,
        and surface samples with normals along each. The first 17 are the jaw points', spaced evenly
        along the frontal outline from the image's left to its right; the rest go all round."""
        w, mask = self.who, self.mask
        start = np.pi - np.arcsin(_spow(np.clip(w.jaw_top / w.face_bottom, -0.9, 0.9), w.jaw_square / 2))
        theta = np.linspace(start, np.pi / 2, 400)
        rim = mask.point(1.0, theta)[:, :2]
        arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(rim, axis=0), axis=1))])
        half = np.interp(np.linspace(0, arc[-1], 9), arc, theta)
        jaw = np.concatenate([half, np.pi - half[-2::-1]])
        self.meridians = np.concatenate([jaw, np.linspace(0, 2 * np.pi, 64, endpoint=False)])
        # along a meridian, angle phi runs from the front (0) to the rim (pi / 2): rho = sin(phi)^(2/m)
        self.meridian_phi = np.linspace(np.arcsin(0.3 ** (w.face_flat / 2)), np.pi / 2, 36)
        self.meridian_samples = self._meridian_point(self.meridian_phi[None, :], self.meridians[:, None])
        self.meridian_normals = mask.normal(self.meridian_samples)  # (81, 36, 3)

    def _meridian_point(self, phi, theta):
        return self.mask.point(np.sin(phi) ** (2 / self.who.face_flat), theta)

    def _hairline_points(self) -> np.ndarray:
        """The hairline on the mask, pulled in to the rim where it leaves the face (empty if bald)."""
        w = self.who
        if w.hair_style == "bald":
            return np.zeros((0, 3))
        x = np.linspace(-1, 1, 33) * w.face_width
        y = self.hairline_y(x)
        scale = np.maximum(np.abs(x / w.face_width) ** w.jaw_square
                           + np.abs(y / w.face_top) ** w.jaw_square, 1.0) ** (1 / w.jaw_square)
        return self.on_face(x / scale, y / scale)

    def _hair(self):
        """The hair cap (the skull grown by the hair's volume, cut lower at the back), strands on it
        for texture, and for long hair a curtain falling behind the neck."""
        w = self.who
        axes = self.skull_axes + w.hair_volume
        cut = {"bald": 0.0, "short": -0.8, "medium": 3.5, "long": 4.5}[w.hair_style] - self.skull_centre[1]
        lowest = np.arccos(np.clip(-cut / axes[1], -1, 1))
        self.cap, self.strands, self.strand_normals, self.curtain = (np.zeros((0, 3)),) * 4
        if w.hair_style == "bald":
            return
        self.cap = ellipsoid_points(self.skull_centre, axes, lowest, tilt=HAIR_TILT)
        rng = np.random.default_rng(w.hair_seed)
        count = (HAIR_STRANDS, 1)
        start, length = rng.uniform(0.05, 0.75 * lowest, count), rng.uniform(0.2, 0.45, count)
        polar = np.minimum(start + length * np.linspace(0, 1, 6), 0.97 * lowest)  # 6 points down the cap
        azimuth = rng.uniform(0, 2 * np.pi, count) + rng.normal(0, 0.15, count) * polar
        strands = ellipsoid_surface(self.skull_centre, axes * 1.003, polar, azimuth, HAIR_TILT)
        self.strands = strands.reshape(-1, 3)
        middle = polar[:, 3], azimuth[:, 3]
        self.strand_normals = ellipsoid_surface(0, 1 / axes, *middle, HAIR_TILT)  # normals at mid-length
        if w.hair_style == "long":
            side = axes[0] + 1.0
            box = [[sx * side, y, z] for sx in (-1, 1) for y in (2.0, 21.0) for z in (-1.0, 9.0)]
            self.curtain = np.concatenate([self.cap, box])

    def hairline_y(self, x):
        """Height of the hairline on the forehead: an arch, lower at the temples."""
        return -self.who.hairline + 1.6 * (x / self.who.face_width) ** 2

    def jaw_drop(self, y, jaw: float):
        """Downward shift of face points at height y when the mouth opens: the lower lip and the
        jaw below it move down together, the skin above the mouth corners stays."""
        t = np.clip((y - self.who.mouth_y) / (self.who.lower_lip + 0.3), 0, 1)
        return jaw * JAW_DROP * t * t * (3 - 2 * t)

    def silhouette(self, pose: Pose, viewpoint: np.ndarray, count: int | None = None) -> np.ndarray:
        """The face's outline as the camera sees it: on each meridian, the point where the surface
        turns away from the camera (or the rim, if it never does): (81, 3); the first 17 are the jaw.
        ``count``: only the first ``count`` meridians (17: the jaw's landmarks)."""
        p = self.meridian_samples[:count].copy()
        p[..., 1] += self.jaw_drop(p[..., 1], pose.jaw)
        facing = np.einsum("jkc,jkc->jk", self.meridian_normals[:count], p - viewpoint)  # < 0: faces the camera
        away = facing >= 0
        k = np.where(away.any(axis=1), np.maximum(away.argmax(axis=1), 1), len(self.meridian_phi) - 1)
        rows = np.arange(len(p))
        f0, f1 = facing[rows, k - 1], facing[rows, k]
        w = np.where(away.any(axis=1), np.clip(f0 / np.minimum(f0 - f1, -1e-9), 0, 1), 1.0)
        phi = self.meridian_phi[k - 1] + w * (self.meridian_phi[k] - self.meridian_phi[k - 1])
        edge = self._meridian_point(phi, self.meridians[:count])  # where facing crosses 0, on the surface
        edge[:, 1] += self.jaw_drop(edge[:, 1], pose.jaw)
        return edge

    def on_face(self, x, y, lift=0.0):
        """Points (N, 3) on the mask's front at (x, y), ``lift`` cm towards the camera."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        return np.stack([x, y, self.mask.front_z(x, y) - lift], axis=-1)

    def _lids(self, side: int, blink: float) -> tuple[np.ndarray, ...]:
        """One eye's lines on the face (side -1: image left), (13, 2) each in the face's (x, y), from
        the image's left corner to its right: the upper and lower lid edges at this blink (they meet
        at blink 1, a little below the corner line), the crease above the upper lid, and the eye
        region's outline (26, 2): crease to a little below the open lower lid, corners a little
        beyond, i.e. all that a blink changes."""
        w = self.who
        half, centre = w.eye_width / 2, side * w.eye_gap
        rise = half * np.tan(np.radians(w.eye_tilt))
        outer, inner = np.array([centre + side * half, -rise]), np.array([centre - side * half, rise + 0.08])
        left, right = (outer, inner) if side < 0 else (inner, outer)
        base = left + _LID_T * (right - left)
        low, b = 0.7 * w.eye_open, blink
        shut = 0.35 * low  # where the lids meet
        upper = base + _LID * (-w.eye_open * (1 - b) + b * shut)
        lower = base + _LID * (low * (1 - b) + b * shut)
        crease = base + _LID * -(w.eye_open + 0.3)
        middle = (left + right) / 2
        region = np.concatenate([crease, (base + _LID * (low + EYE_REGION_GROW))[::-1]])
        region = middle + (region - middle) * [1 + EYE_REGION_GROW / half, 1]
        return upper, lower, crease, region

    def _eye(self, side: int, pose: Pose, viewpoint: np.ndarray) -> dict[str, np.ndarray]:
        """One eye (side -1: image left): 6 landmarks, opening, lids, lid skin, eye region, iris,
        pupil, glint."""
        upper, lower, crease, region = self._lids(side, pose.blink)
        upper, lower, crease, region = np.split(
            self.on_face(*np.concatenate([upper, lower, crease, region]).T, -0.35), [13, 26, 39])
        ball = self.eyeballs[(side + 1) // 2]
        look = viewpoint - ball
        look = look / np.linalg.norm(look) + np.radians([pose.gaze_x, pose.gaze_y, 0.0])
        look = 0.55 * look / np.linalg.norm(look) + [0, 0, -0.45]  # eyes turn half-way towards the camera
        look /= np.linalg.norm(look)
        across = np.array([-look[2], 0.0, look[0]]) / np.hypot(look[0], look[2])  # look x (0, 1, 0)
        up = np.cross(across, look)
        iris_centre = ball + look * np.sqrt(EYE_RADIUS ** 2 - IRIS_RADIUS ** 2)
        return {
            "points": np.concatenate([upper[[0, 4, 8, 12]], lower[[8, 4]]]),
            "opening": np.concatenate([upper, lower[-2:0:-1]]), "lashes": upper, "lower_lid": lower,
            "crease": crease - [0, 0, 0.15], "lid": np.concatenate([crease, upper[::-1]]), "region": region,
            "iris": _ring(iris_centre, across * IRIS_RADIUS, up * IRIS_RADIUS, 20),
            "pupil": _ring(iris_centre - look * 0.02, across * PUPIL_RADIUS, up * PUPIL_RADIUS, 12),
            "glint": _ring(iris_centre - look * 0.04 - (across + up) * 0.18, across * 0.07, up * 0.07, 8),
        }

    def _brow(self, side: int, pose: Pose) -> dict[str, np.ndarray]:
        """One brow: 5 landmarks on its upper edge, and its outline."""
        w = self.who
        inner = side * (w.eye_gap - w.eye_width / 2 - 0.55)
        outer = side * (w.eye_gap + w.eye_width / 2 + 1.35)
        t = _BROW_T
        arch = np.sin(np.pi * t ** 0.9)
        x = inner + t * (outer - inner)
        top = -(w.brow_height - w.brow_arch * (1 - arch) + 0.15 * (1 - t)) - pose.brows * (0.45 + 0.35 * arch)
        bottom = top + w.brow_thickness * (1.05 - 0.6 * t)
        outline = self.on_face(np.concatenate([x, x[::-1]]), np.concatenate([top, bottom[::-1]]), 0.15)
        marks = np.arange(0, len(t), 4)  # t = 0, 1/4, ..., 1 on the upper edge
        order = marks[::-1] if side < 0 else marks  # landmarks run from the image's left to its right
        return {"points": outline[order], "outline": outline}

    def _nose(self) -> dict[str, np.ndarray]:
        """Landmarks 27-35; the nose's outline (for its shading), lower edge and nostrils."""
        w = self.who
        top, tip, depth, half = -0.1, w.nose_length, w.nose_depth, w.nose_width / 2
        y = np.linspace(top, tip, 4)
        bridge = self.on_face(0 * y, y, depth * ((y - top) / (tip - top)) ** 1.5)
        xs = np.array([-1.0, -0.53, 0.0, 0.53, 1.0]) * half
        ys = tip + np.array([0.9, 1.2, 1.45, 1.2, 0.9])
        lower = self.on_face(xs, ys, depth * np.array([0.2, 0.4, 0.35, 0.4, 0.2]))
        nostrils = [_ring(self.on_face(s * 0.5 * half, tip + 1.1, 0.42 * depth), [0.3 * half, 0, 0],
                          [0, 0.1, -0.16], 10) for s in (-1, 1)]
        sides = self.on_face([-0.45 * half, 0.45 * half], [top + 0.3, top + 0.3])
        return {"points": np.concatenate([bridge, lower]),
                "bridge": np.concatenate([sides, bridge, lower[[0, 4]]]),
                "bottom": np.concatenate([bridge[3:], lower[::-1]]),
                "nostril_left": nostrils[0], "nostril_right": nostrils[1]}

    def _mouth(self, pose: Pose, marks_only: bool = False) -> dict[str, np.ndarray]:
        """Landmarks 48-67, the lips' outlines and what the open mouth shows (cavity, teeth, tongue),
        from smooth curves across the mouth (u in [-1, 1]); ``marks_only``: just the landmarks."""
        w = self.who
        half = w.mouth_width * (1 + 0.12 * pose.smile)
        gap = 0.05 + LIP_GAP * pose.jaw
        corner = 0.86  # the inner corners, as a fraction of the half width

        def place(u, dy, lift):
            x = u * half + 0.25 * pose.smile * u * np.abs(u)
            y = w.mouth_y + dy - 0.45 * pose.smile * u ** 2
            return self.on_face(x, y, lift)

        def opening(v, sign):  # inner lip lines, v in [-1, 1]
            share = 0.25 if sign < 0 else 0.75
            return sign * share * gap * (1 - v ** 2)

        def outer_upper(u):  # cupid's bow: a dip at the centre
            shape = np.sqrt(np.clip(1 - (u / 1.05) ** 2, 0, 1))
            return -w.upper_lip * shape * (1 - 0.22 * np.exp(-(u / 0.22) ** 2)) \
                + opening(np.clip(u / corner, -1, 1), -1)

        def outer_lower(u):
            shape = np.clip(1 - (u / 1.05) ** 2, 0, 1) ** 0.6
            return w.lower_lip * shape + opening(np.clip(u / corner, -1, 1), 1)

        u_marks = np.array([-1, -0.64, -0.28, 0, 0.28, 0.64, 1])
        v_marks = np.array([-1, -1 / 3, 0, 1 / 3, 1])
        u = u_marks if marks_only else np.union1d(np.linspace(-1, 1, 25), u_marks)
        v = v_marks if marks_only else np.union1d(np.linspace(-1, 1, 13), v_marks)
        curves = [(u, outer_upper(u), 0.45 * (1 - u ** 2)), (u, outer_lower(u), 0.35 * (1 - u ** 2)),
                  (v * corner, opening(v, -1), 0.25 * (1 - v ** 2)), (v * corner, opening(v, 1), 0.25 * (1 - v ** 2)),
                  (np.array([-1.0, 1.0, -1.06, 1.06]), np.zeros(4), np.zeros(4))]  # corners, the lips' ends
        placed = place(*(np.concatenate(c) for c in zip(*curves)))  # one call: this runs many times a frame
        upper_edge, lower_edge, inner_upper, inner_lower, corners, ends = np.split(
            placed, np.cumsum([len(u), len(u), len(v), len(v), 2]))  # corners: landmarks 48 and 54
        pick = lambda curve, grid, at: curve[np.searchsorted(grid, at)]
        points = np.concatenate([
            corners[:1], pick(upper_edge, u, u_marks[1:-1]), corners[1:],  # 48-54
            pick(lower_edge, u, u_marks[5:0:-1]),  # 55-59
            pick(inner_upper, v, v_marks), pick(inner_lower, v, v_marks[3:0:-1])])  # 60-64, 65-67
        if marks_only:
            return {"points": points}
        return {
            "points": points,
            "upper_lip": np.concatenate([ends[:1], upper_edge, ends[1:], inner_upper[::-1]]),
            "lower_lip": np.concatenate([ends[1:], lower_edge[::-1], ends[:1], inner_lower]),
            "inside": np.concatenate([inner_upper, inner_lower[::-1]]),
            "inner_upper": inner_upper,
            **self._mouth_contents(pose, v, opening, lambda v, dy: place(v * corner, dy, 0.25 * (1 - v ** 2))),
        }

    @staticmethod
    def _mouth_contents(pose: Pose, v: np.ndarray, opening, place) -> dict[str, np.ndarray]:
        """What the open mouth shows, as bands between the inner lip lines: the upper teeth hanging
        from the skull (their biting edge stays put while the lower lip drops), the tongue and the
        lower teeth rising from the lower lip (they move with the jaw), and seams between the teeth.

        v: (V,) positions across the opening (-1, 1: the inner corners); opening(v, sign): height
        of the upper (sign -1) or lower (+1) inner lip line at v; place(v, dy): head points (..., 3)
        at positions v and heights dy. Every band lies between the two lip lines at the same v, so
        nothing of it shows outside the opening. Outlines are (2 K, 3), seams (2 G, 3) start, end, ...
        """
        x = np.concatenate([v, UPPER_SEAMS, LOWER_SEAMS])  # every position needed, computed at once
        top, bottom = opening(x, -1), opening(x, 1)
        edge = np.clip(0.1 - 0.35 * x ** 2, top, bottom)  # the upper teeth's edge, rising where the row turns away
        lower = np.clip(bottom - (0.12 + 0.2 * pose.jaw) * np.clip(1 - (x / 0.75) ** 2, 0, 1), edge, bottom)
        tongue = np.clip(bottom - 0.45 * (bottom - top) * np.sqrt(np.clip(1 - (x / 0.9) ** 2, 0, 1)), edge, bottom)
        upper_row, lower_row = np.flatnonzero(np.abs(v) <= UPPER_TEETH), np.flatnonzero(np.abs(v) <= LOWER_TEETH)
        upper_seams = len(v) + np.arange(len(UPPER_SEAMS))
        lower_seams = len(v) + len(UPPER_SEAMS) + np.arange(len(LOWER_SEAMS))

        def band(at, high, low):  # (positions, heights) round the band high..low over x[at]
            return np.concatenate([x[at], x[at][::-1]]), np.concatenate([high[at], low[at][::-1]])

        def seams(at, high, low):  # (positions, heights) of segments: start, end, start, ...
            return np.repeat(x[at], 2), np.stack([high[at], low[at]], axis=1).reshape(-1)

        pieces = {"tongue": band(upper_row, tongue, bottom), "teeth_lower": band(lower_row, lower, bottom),
                  "teeth_upper": band(upper_row, top, edge),
                  "teeth_seams": tuple(np.concatenate(both) for both in zip(seams(upper_seams, top, edge),
                                                                             seams(lower_seams, lower, bottom)))}
        placed = place(*(np.concatenate(p) for p in zip(*pieces.values())))  # one call: it runs every frame
        return dict(zip(pieces, np.split(placed, np.cumsum([len(at) for at, _ in pieces.values()])[:-1])))

    def _beard(self, jaw: np.ndarray, pose: Pose) -> dict[str, np.ndarray]:
        """Beard and moustache outlines (empty when the identity has none)."""
        w = self.who
        parts = {}
        if w.beard in ("stubble", "full"):  # the jaw from ear to ear, up to a line over the cheeks
            u = np.array([0.95, 0.75, 0.5, 0.3, 0.0, -0.3, -0.5, -0.75, -0.95])
            y = np.array([2.2, 2.2, 1.7, 1.35, 1.3, 1.35, 1.7, 2.2, 2.2]) + w.nose_length
            x = u * np.where(np.abs(u) > 0.4, w.face_width, 1.4 * w.mouth_width)
            parts["beard"] = np.concatenate([jaw[2:15], self.on_face(x, y, 0.05)])
        if w.beard in ("moustache", "full"):
            u = np.linspace(-1.15, 1.15, 15)
            x = u * w.mouth_width
            top = w.nose_length + 1.6 + 0.6 * np.abs(u) ** 2  # just under the nose
            bottom = w.mouth_y - w.upper_lip * 0.6 + 0.5 * np.abs(u) ** 3 - 0.45 * pose.smile * u ** 2
            parts["moustache"] = self.on_face(np.concatenate([x, x[::-1]]),
                                               np.concatenate([top, bottom[::-1]]), 0.4)
        return parts

    def _glasses(self) -> dict[str, np.ndarray]:
        """Two rims, the bridge and the two arms (empty without glasses)."""
        w = self.who
        if w.glasses == "none":
            return {}
        power = 2 / (2 if w.glasses == "round" else 5)
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        parts = {}
        for s, name in ((-1, "left"), (1, "right")):
            centre_x = s * w.eye_gap
            half_w, half_h = w.eye_width / 2 + 0.7, 1.45
            x = centre_x + half_w * _spow(np.cos(t), power)
            y = 0.15 + half_h * _spow(np.sin(t), power)
            z = self.mask.front_z(0.0, 0.0) - 0.6 + 0.06 * x ** 2  # wrapped a little round the face
            parts[f"rim_{name}"] = np.stack([x, y, z], axis=1)
            hinge = parts[f"rim_{name}"][0 if s > 0 else 16]
            parts[f"arm_{name}"] = np.stack([hinge, [s * (w.skull_width - 0.2), 0.8, 2.5]])
        a, b = parts["rim_left"][0], parts["rim_right"][16]
        k = np.linspace(0, 1, 7)[:, None]
        parts["bridge"] = a + k * (b - a) - np.sin(np.pi * k) * [0, 0.35, 0.15]
        return parts

    def landmarks(self, pose: Pose, viewpoint: np.ndarray) -> np.ndarray:
        """The 68 landmarks (68, 3) alone: ``parts(pose, viewpoint)["landmarks"]``, a few times
        faster (for fitting a pose to landmarks, many times a frame)."""
        lids = [self._lids(side, pose.blink)[:2] for side in (-1, 1)]
        eyes = self.on_face(*np.concatenate([np.concatenate([upper[[0, 4, 8, 12]], lower[[8, 4]]])
                                             for upper, lower in lids]).T, -0.35)
        return np.concatenate([self.silhouette(pose, viewpoint, 17), self._brow(-1, pose)["points"],
                               self._brow(1, pose)["points"], self.nose["points"], eyes,
                               self._mouth(pose, marks_only=True)["points"]])

    def parts(self, pose: Pose, viewpoint: np.ndarray) -> dict[str, np.ndarray]:
        """All head parts for one frame (head coordinates), including ``landmarks`` (68, 3)."""
        outline = self.silhouette(pose, viewpoint)
        jaw = outline[:17]
        eyes = [self._eye(s, pose, viewpoint) for s in (-1, 1)]
        brows = [self._brow(s, pose) for s in (-1, 1)]
        nose, mouth = self.nose, self._mouth(pose)
        skin = outline  # the face's outline, below the hairline
        if len(self.hairline_points):
            skin = outline[outline[:, 1] >= self.hairline_y(outline[:, 0])]
        parts = {
            "landmarks": np.concatenate([jaw, brows[0]["points"], brows[1]["points"], nose["points"],
                                         eyes[0]["points"], eyes[1]["points"], mouth["points"]]),
            "face": np.concatenate([skin, self.hairline_points]), "skull": self.skull, "cap": self.cap,
            "curtain": self.curtain, "strands": self.strands,
        }
        for i, (outer, inner) in enumerate(self.ears):
            parts[f"ear_{i}"], parts[f"ear_inside_{i}"] = outer, inner
        for name, side in (("left", 0), ("right", 1)):
            parts.update({f"eye_{name}_{k}": v for k, v in eyes[side].items() if k != "points"})
            parts[f"brow_{name}"] = brows[side]["outline"]
        parts.update({f"nose_{k}": v for k, v in nose.items() if k != "points"})
        parts.update({f"mouth_{k}": v for k, v in mouth.items() if k != "points"})
        parts.update(self._beard(jaw, pose))
        parts.update(self.glasses)
        return parts
