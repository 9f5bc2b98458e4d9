"""Painting a synthetic head: anti-aliased polygons at 2-4x the output size, downsampled, then shaded.

Per frame, every part of the posed head (``head.py``) goes through the camera; the parts are
painted back to front in flat colours with ``cv2.fillPoly(..., LINE_AA)`` on a canvas 2-4 times
larger than the output; the canvas shrinks with ``INTER_AREA``; and the result is multiplied by a
shading image: Lambert's law on the normals of ellipsoids that approximate skull, face and nose
(ray cast on a grid of at most half the output size, interpolated, and confined to the painted
outlines by anti-aliased masks), soft shadows in the eye sockets, under the nose, lip and chin,
plus a faint specular highlight. The light may drift within a clip (``Pose.light_yaw``,
``light_pitch``).

``render(pose, masks=True)`` also returns exact region masks (:data:`REGIONS`): the same
polygons painted again, white on black, each with what is painted over it later erased, and shrunk
like the frame; a pixel belongs to a region when more than half of it shows that region.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .camera import Camera, framing_camera
from .head import BODY_FOLLOWS, HAIR_STRANDS, Head, Pose, pose_transform, rotation
from .identity import Identity
from .motion import random_motion

MIN_SIZE, MAX_SIZE = 32, 256
SCLERA = (236, 232, 224)
PUPIL = (18, 14, 14)
GLINT = (250, 250, 250)
MOUTH = (64, 20, 26)
LIP_LINE = MOUTH  # between the lips
TEETH = (226, 220, 204)
LOWER_TEETH = (200, 192, 176)  # in the upper teeth's shadow
TEETH_SEAMS = (150, 138, 120)
TONGUE = (176, 78, 88)
LASHES = (28, 22, 20)
REGIONS = ("mouth", "teeth", "eyes", "eyelids", "head")  # the masks of render(pose, masks=True)
_SHIFT = 4  # OpenCV sub-pixel bits: coordinates are given in 1/16 canvas pixel


def check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an integer from {MIN_SIZE} to {MAX_SIZE} pixels, got {size!r}")
    return int(size)


@dataclass(frozen=True)
class Scene:
    """Camera, light and background of one clip: the identity's own plus small clip-to-clip changes."""
    camera: Camera
    distance: float  # cm from the camera to the head at rest
    light: tuple[float, float, float]  # unit vector towards the light, camera axes
    ambient: float
    brightness: float  # background brightness factor
    texture_seed: int


def make_scene(who: Identity, head: Head, size: int, rng: np.random.Generator | None = None) -> Scene:
    """The identity's scene (``rng`` None) or a clip's variation of it."""
    jitter = (lambda low, high: rng.uniform(low, high)) if rng is not None else (lambda low, high: 0.0)
    distance = 100.0 * np.exp(jitter(-0.35, 0.35))
    light = np.array(who.light) + [jitter(-0.25, 0.25), jitter(-0.2, 0.2), 0]
    rest = head.parts(Pose(), np.array([0.0, 0.0, -distance]))["landmarks"] + [0, 0, distance]
    camera = framing_camera(rest, size, zoom=np.exp(jitter(-0.05, 0.05)),
                            shift=(jitter(-0.03, 0.03), jitter(-0.03, 0.03)))
    return Scene(camera=camera, distance=float(distance), light=tuple(light / np.linalg.norm(light)),
                 ambient=float(np.clip(who.ambient + jitter(-0.05, 0.05), 0.3, 0.6)),
                 brightness=float(np.exp(jitter(-0.15, 0.15))),
                 texture_seed=int(rng.integers(2 ** 31)) if rng is not None else 0)


def background(who: Identity, scene: Scene, size: int) -> np.ndarray:
    """(size, size, 3) float32 RGB: a flat colour with a vignette, a gradient, or a soft texture."""
    rng = np.random.default_rng(scene.texture_seed)
    first, second = np.array(who.background_colours) * scene.brightness
    v, u = (np.mgrid[:size, :size] + 0.5) / size - 0.5
    if who.background == "flat":
        mix = np.zeros_like(u)
        first = first * (1 - 0.5 * (u ** 2 + v ** 2))[..., None]
    elif who.background == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        mix = np.clip(0.5 + np.cos(angle) * u + np.sin(angle) * v, 0, 1)
    else:
        coarse = rng.uniform(0, 1, (6, 6)).astype(np.float32)
        mix = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    image = first + mix[..., None] * (second - first)
    return np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.float32)


def _shade_colour(colour, factor: float) -> tuple[float, float, float]:
    return tuple(float(c) * factor for c in colour)


def _mouth_open(pose: Pose) -> bool:
    """Whether the mouth is open enough to show its tongue and teeth."""
    return pose.jaw > 0.1


class Renderer:
    """Draws one identity at one size, frame after frame (its scene is fixed for a clip)."""

    def __init__(self, who: Identity, size: int, rng: np.random.Generator | None = None):
        self.who, self.size = who, check_size(size)
        self.head = Head(who)
        self.scene = make_scene(who, self.head, self.size, rng)
        self.factor = int(np.clip(round(256 / self.size), 2, 4))  # supersampling
        canvas = self.size * self.factor
        self.background = cv2.resize(background(who, self.scene, self.size), (canvas, canvas),
                                     interpolation=cv2.INTER_LINEAR).clip(0, 255).astype(np.uint8)
        self.grid = max(MIN_SIZE, min(self.size // 2, 96))  # normals are smooth: fewer rays suffice
        ratio, cam = self.grid / self.size, self.scene.camera
        self.rays = Camera(cam.focal * ratio, (cam.cx + 0.5) * ratio - 0.5,
                           (cam.cy + 0.5) * ratio - 0.5).rays(self.grid).astype(np.float32)
        self.pixels_per_cm = 0.0  # canvas pixels per cm at the head: set for each frame by render()
        self.lid_colour = tuple(0.93 * s + 0.12 * (l - s) for s, l in zip(who.skin, who.lips))  # a little pink
        w, on_face = who, self.head.on_face
        skull = (self.head.skull_centre, self.head.skull_axes + w.hair_volume)  # (centre, axes), cm
        face = (np.array([0.0, (w.face_bottom - w.face_top) / 2, 0.0]),
                np.array([w.face_width, (w.face_bottom + w.face_top) / 2, w.face_depth]))
        middle = (w.nose_length - 0.1) / 2  # the nose: long, narrow, from the bridge down past the tip
        nose = (on_face(0.0, middle + 0.7, -0.6),
                np.array([0.3 * w.nose_width, middle + 1.2, w.nose_depth + 0.9]))
        self.spots = [  # soft shadows (ambient occlusion): centre (head coordinates), radii (cm), strength
            (on_face(-w.eye_gap, -0.5), (1.7, 1.1), 0.22), (on_face(w.eye_gap, -0.5), (1.7, 1.1), 0.22),
            (on_face(0.0, w.nose_length + 1.7), (1.4, 0.5), 0.25),
            (on_face(0.0, w.mouth_y + w.lower_lip + 0.5), (1.3, 0.4), 0.2),
            (np.array([0.0, w.face_bottom + 2.2, 3.0]), (4.5, 1.2), 0.45)]  # on the neck, under the chin
        # what carries the shading, back to front: (parts outlining it, its ellipsoids, edge blur in cm,
        # opacity); the nose blends softly into the face
        self.layers = [(("skull", "cap", "face"), (face, skull), 0.0, 1.0),
                       (("nose_bridge", "nose_bottom"), (nose,), 0.25, 0.75)]

    # -- drawing helpers (points in output pixels) --------------------------------------------------
    def _fixed(self, points: np.ndarray) -> np.ndarray:
        return np.round(((points + 0.5) * self.factor - 0.5) * (1 << _SHIFT)).astype(np.int32)

    def _fill(self, canvas, points, colour, hull=False):
        if len(points) < 3:
            return
        fixed = self._fixed(points)
        cv2.fillPoly(canvas, [cv2.convexHull(fixed) if hull else fixed], colour, cv2.LINE_AA, _SHIFT)

    def _line(self, canvas, points, colour, width_cm: float, closed=False):
        width = max(1, int(round(width_cm * self.pixels_per_cm)))
        cv2.polylines(canvas, [self._fixed(points)], closed, colour, width, cv2.LINE_AA, _SHIFT)

    # -- one frame ----------------------------------------------------------------------------------
    def render(self, pose: Pose, masks: bool = False):
        """Frame (size, size, 3) uint8 RGB and its exact landmarks (68, 2) float32; with ``masks``,
        also the frame's regions {name: bool (size, size)} for each name in :data:`REGIONS`:

        mouth    the open mouth inside the inner lip lines: cavity, tongue and teeth
        teeth    the upper and lower teeth that show
        eyes     the eyeballs that show between the lids: white, iris and pupil
        eyelids  the rest of the eye regions (lid skin, lid lines, lashes): ``eyes | eyelids`` is
                 all that a blink changes, from the crease to a little below the open lower lid
        head     everything that is not background: face, hair, ears, neck and shoulders
        """
        rot, shift = pose_transform(pose, self.scene.distance)
        viewpoint = -rot.T @ shift  # the camera in head coordinates
        parts = self.head.parts(pose, viewpoint)
        camera = self.scene.camera
        names = list(parts)
        counts = np.cumsum([len(parts[n]) for n in names])[:-1]
        projected = camera.project(np.concatenate([parts[n] for n in names]) @ rot.T + shift)
        flat = dict(zip(names, np.split(projected, counts)))
        body_rot, body_shift = pose_transform(pose, self.scene.distance, BODY_FOLLOWS)
        for name in ("neck", "torso"):
            flat[name] = camera.project(getattr(self.head, name) @ body_rot.T + body_shift)
        self.pixels_per_cm = camera.focal * self.factor / shift[2]

        canvas = self.background.copy()
        self._paint(canvas, flat, parts, pose, viewpoint)
        small = cv2.resize(canvas, (self.size, self.size), interpolation=cv2.INTER_AREA).astype(np.float32)
        shade, shine = self._shading(rot, shift, flat, self._light(pose))
        frame = small * shade[..., None] + 255 * shine[..., None]
        frame, points = np.clip(frame + 0.5, 0, 255).astype(np.uint8), flat["landmarks"].astype(np.float32)
        if masks:
            return frame, points, self._masks(flat, parts, pose, viewpoint)
        return frame, points

    def _light(self, pose: Pose) -> np.ndarray:
        """(3,) unit vector towards the light in camera axes: the scene's, turned by the pose's drift."""
        light = np.array(self.scene.light)
        if pose.light_yaw or pose.light_pitch:
            light = rotation(pose.light_yaw, pose.light_pitch, 0.0) @ light
        return light.astype(np.float32)

    def _paint(self, canvas, flat, parts, pose, viewpoint):
        """Paint the parts back to front in flat colours (the shading comes later)."""
        w = self.who
        skin = w.skin
        hair = w.hair if w.hair_style != "bald" else skin
        self._fill(canvas, flat["torso"], w.clothes, hull=True)
        self._fill(canvas, flat["curtain"], hair, hull=True)
        self._fill(canvas, flat["neck"], _shade_colour(skin, 0.8), hull=True)
        for i in range(2):
            self._fill(canvas, flat[f"ear_{i}"], _shade_colour(skin, 0.92), hull=True)
            self._fill(canvas, flat[f"ear_inside_{i}"], _shade_colour(skin, 0.72), hull=True)
        self._fill(canvas, flat["skull"], skin, hull=True)
        self._fill(canvas, flat["cap"], hair, hull=True)
        self._strands(canvas, flat, parts, viewpoint)
        self._fill(canvas, flat["face"], skin, hull=True)
        if "beard" in flat:
            mix = 0.35 if w.beard == "stubble" else 0.85  # of the hair's colour over the skin's
            self._fill(canvas, flat["beard"], tuple(s + mix * (h - s) for s, h in zip(skin, w.hair)))
        for side in ("left", "right"):
            self._eye(canvas, flat, side, pose.blink)
            self._fill(canvas, flat[f"brow_{side}"], w.brows)
        self._nose(canvas, flat)
        if "moustache" in flat:
            self._fill(canvas, flat["moustache"], w.hair)
        self._mouth(canvas, flat, _mouth_open(pose))
        self._glasses(canvas, flat, parts, viewpoint, w.glasses_colour)

    def _glasses(self, canvas, flat, parts, viewpoint, colour):
        """Rims, bridge and the arms on the sides the camera sees (nothing without glasses)."""
        if "rim_left" not in flat:
            return
        for side, sign in (("left", -1), ("right", 1)):
            self._line(canvas, flat[f"rim_{side}"], colour, 0.22, closed=True)
            hinge = parts[f"arm_{side}"][0]
            if sign * (viewpoint[0] - hinge[0]) > 0:  # the camera sees this side of the head
                self._line(canvas, flat[f"arm_{side}"], colour, 0.22)
        self._line(canvas, flat["bridge"], colour, 0.18)

    def _strands(self, canvas, flat, parts, viewpoint, colour=None):
        """Strands of hair on the side of the cap the camera sees, a little darker or lighter
        (``colour``: all in that one colour, for a mask)."""
        if not len(parts["strands"]):
            return
        middles = parts["strands"].reshape(HAIR_STRANDS, -1, 3)[:, 3]
        seen = np.einsum("ij,ij->i", self.head.strand_normals, middles - viewpoint) < 0
        curves = self._fixed(flat["strands"]).reshape(HAIR_STRANDS, -1, 2)
        width = max(1, int(round(0.06 * self.pixels_per_cm)))
        for start, factor in ((0, 0.85), (1, 1.12)):
            chosen = [c for c, s in zip(curves[start::2], seen[start::2]) if s]
            if chosen:
                shade = colour if colour is not None else _shade_colour(self.who.hair, factor)
                cv2.polylines(canvas, chosen, False, shade, width, cv2.LINE_AA, _SHIFT)

    def _eye(self, canvas, flat, side, blink: float):
        """The eyeball between the lids, the upper lid's skin from the crease down to its edge, lid
        lines and lashes."""
        self._eyeball(canvas, flat, side, blink)
        self._fill(canvas, flat[f"eye_{side}_lid"], self.lid_colour)
        self._lid_lines(canvas, flat, side)

    def _eyeball(self, canvas, flat, side, blink: float, colours=None):
        """White, iris, pupil and glint inside the lids (clipped to the opening; none once the lids
        meet at blink 1, no iris while they nearly do, when the opening is no longer convex), in
        colours (white, iris, pupil, glint) if given."""
        if blink >= 1:
            return
        sclera, *inner = colours or (SCLERA, self.who.iris, PUPIL, GLINT)
        opening = flat[f"eye_{side}_opening"].astype(np.float32)
        self._fill(canvas, opening, sclera)
        hull = cv2.convexHull(opening)[:, 0]  # the opening is convex while the eye is open
        for part, colour in zip(("iris", "pupil", "glint"), inner) if blink < 0.7 else ():
            area, inside = cv2.intersectConvexConvex(flat[f"eye_{side}_{part}"].astype(np.float32), hull)
            if area > 0:
                self._fill(canvas, inside[:, 0], colour)

    def _lid_lines(self, canvas, flat, side, colour=None):
        """Crease, lower lid line and the lashes along the upper lid's edge (``colour``: all in one)."""
        skin = self.who.skin
        crease, lower, lashes = (_shade_colour(skin, 0.78), _shade_colour(skin, 0.7), LASHES) \
            if colour is None else (colour,) * 3
        self._line(canvas, flat[f"eye_{side}_crease"], crease, 0.06)
        self._line(canvas, flat[f"eye_{side}_lower_lid"], lower, 0.05)
        self._line(canvas, flat[f"eye_{side}_lashes"], lashes, 0.13)

    def _masks(self, flat, parts, pose, viewpoint) -> dict[str, np.ndarray]:
        """The frame's regions {name: bool (size, size)} (see :meth:`render`), from the parts just
        painted: each region painted white on a black canvas as large as the frame's, with what the
        frame paints over it later painted black, then shrunk like the frame and cut at half; the
        eyelids are the eye regions, so cut, less the eyes."""
        side = self.size * self.factor  # every region painted as in the frame, so edges blend alike
        head, mouth, teeth, eyes, region = (np.zeros((side, side), np.uint8) for _ in range(5))
        on, off = 255, 0
        for name in ("torso", "curtain", "neck", "ear_0", "ear_1", "skull", "cap", "face"):
            self._fill(head, flat[name], on, hull=True)
        self._strands(head, flat, parts, viewpoint, colour=on)
        for name in ("beard", "moustache", "brow_left", "brow_right", "eye_left_region", "eye_right_region",
                     "mouth_upper_lip", "mouth_lower_lip", "mouth_inside"):  # in a turn they may stand out
            if name in flat:  # of the face's outline (and the eye regions hold all that an eye paints)
                self._fill(head, flat[name], on)
        self._nose(head, flat, on)
        for name in ("left", "right"):
            self._lid_lines(head, flat, name, on)
        self._glasses(head, flat, parts, viewpoint, on)
        for name in ("left", "right"):
            self._eyeball(eyes, flat, name, pose.blink, (on,) * 4)
            self._fill(eyes, flat[f"eye_{name}_lid"], off)
            self._lid_lines(eyes, flat, name, off)
            self._fill(region, flat[f"eye_{name}_region"], on)
        self._mouth_inside(mouth, flat, _mouth_open(pose), (on,) * 5)
        self._mouth_inside(teeth, flat, _mouth_open(pose), (off, off, on, on, on))
        for canvas in (mouth, teeth):
            self._lips(canvas, flat, (off, off, off))
        for canvas in (eyes, region):  # what is painted over the eyes later: brows, then glasses
            for name in ("left", "right"):
                self._fill(canvas, flat[f"brow_{name}"], off)
        for canvas in (eyes, region, mouth, teeth):
            self._glasses(canvas, flat, parts, viewpoint, off)
        shrink = lambda canvas: cv2.resize(canvas, (self.size, self.size), interpolation=cv2.INTER_AREA) >= 128
        masks = dict(zip(REGIONS, map(shrink, (mouth, teeth, eyes, region, head))))
        masks["eyelids"] &= ~masks["eyes"]  # the eye regions less the eyes: the lids
        return masks

    def _lambert(self, normal_camera: np.ndarray, light: np.ndarray) -> np.ndarray:
        """Lambert shading normalised so that a surface facing the camera gets 1."""
        ambient = self.scene.ambient
        front = max(-light[2], 0.3)
        return ambient + (1 - ambient) * np.clip(normal_camera @ light, 0, None) / front

    def _nose(self, canvas, flat, colour=None):
        """Nostrils and the line of the nose's lower edge (its shape comes from the shading;
        ``colour``: both in that one colour)."""
        skin = self.who.skin
        self._line(canvas, flat["nose_bottom"][1:], colour if colour is not None else _shade_colour(skin, 0.8), 0.08)
        for side in ("left", "right"):
            self._fill(canvas, flat[f"nose_nostril_{side}"], colour if colour is not None else _shade_colour(skin, 0.35))

    def _mouth(self, canvas, flat, opened: bool):
        """Inside of the mouth, then the two lips and the line between them."""
        self._mouth_inside(canvas, flat, opened)
        self._lips(canvas, flat, (_shade_colour(self.who.lips, 0.88), self.who.lips, LIP_LINE))

    def _mouth_inside(self, canvas, flat, opened: bool, colours=None):
        """The dark inside of the mouth and, when it is ``opened``, the tongue, the lower and upper
        teeth and the seams between teeth; in colours (inside, tongue, lower, upper, seams) if given."""
        inside, tongue, lower, upper, seam = colours or (MOUTH, TONGUE, LOWER_TEETH, TEETH, TEETH_SEAMS)
        self._fill(canvas, flat["mouth_inside"], inside)
        if not opened:
            return
        self._fill(canvas, flat["mouth_tongue"], tongue)
        self._fill(canvas, flat["mouth_teeth_lower"], lower)
        self._fill(canvas, flat["mouth_teeth_upper"], upper)
        seams = self._fixed(flat["mouth_teeth_seams"]).reshape(-1, 2, 2)
        seams = [s for s in seams if np.abs(s[1] - s[0]).max() > 1 << _SHIFT]  # longer than a canvas pixel
        if seams:
            width = max(1, int(round(0.04 * self.pixels_per_cm)))
            cv2.polylines(canvas, seams, False, seam, width, cv2.LINE_AA, _SHIFT)

    def _lips(self, canvas, flat, colours):
        """Upper lip, lower lip and the line between them, in colours (upper, lower, line)."""
        self._fill(canvas, flat["mouth_upper_lip"], colours[0])
        self._fill(canvas, flat["mouth_lower_lip"], colours[1])
        self._line(canvas, flat["mouth_inner_upper"], colours[2], 0.06)

    def _normals(self, rot, shift, ellipsoids) -> np.ndarray:
        """Camera-space unit normals (P, 3), one per shading ray, of a smooth union of ellipsoids.

        A ray that misses an ellipsoid takes the normal at its closest approach (the silhouette's),
        so normals stay smooth across outlines; where two ellipsoids overlap the nearer one wins,
        blended over ~1 cm so the seam does not show.
        """
        origin = -rot.T @ shift
        depths, normals = [], []
        for centre, axes in ellipsoids:
            o = ((origin - centre) / axes).astype(np.float32)
            d = self.rays @ (rot / axes).astype(np.float32)  # the rays in the unit sphere's frame
            a, b = np.einsum("ij,ij->i", d, d), d @ o
            closest = o @ o - b * b / a  # squared distance of the ray from the centre
            t = (-b - np.sqrt(np.maximum(1 - closest, 0) * a)) / a  # hit, or closest approach
            depths.append(t + 10 * np.maximum(np.sqrt(np.maximum(closest, 0)) - 1, 0))  # misses count as far
            normal = (d * t[:, None] + o) @ (rot / axes).T.astype(np.float32)
            normals.append(normal / np.sqrt(np.einsum("ij,ij->i", normal, normal))[:, None])
        if len(normals) == 1:
            return normals[0]
        first = 1 / (1 + np.exp(np.clip((depths[0] - depths[1]) / 0.7, -30, 30)))[:, None]
        normal = normals[1] + first * (normals[0] - normals[1])
        return normal / np.sqrt(np.maximum(np.einsum("ij,ij->i", normal, normal), 1e-12))[:, None]

    def _shading(self, rot, shift, flat, light) -> tuple[np.ndarray, np.ndarray]:
        """(shade, shine), each (size, size): diffuse factor (1 on the background) and specular term.

        Each layer covers exactly the outline painted for it (an anti-aliased mask, soft for the
        nose) and is shaded with Lambert's law on the normals of its ellipsoids, which are cast
        on a coarser grid and interpolated.
        """
        size, grid = self.size, self.grid
        half = light + [0, 0, -1]
        half /= np.linalg.norm(half)
        shade = np.ones((size, size), np.float32)
        shine = np.zeros((size, size), np.float32)
        for names, ellipsoids, blur, opacity in self.layers:
            mask = np.zeros((size, size), np.uint8)
            for name in (n for n in names if len(flat[n])):
                fixed = np.round(flat[name] * (1 << _SHIFT)).astype(np.int32)
                cv2.fillPoly(mask, [cv2.convexHull(fixed)], 255, cv2.LINE_AA, _SHIFT)
            cover = mask.astype(np.float32) * (opacity / 255)
            if blur:
                cover = cv2.GaussianBlur(cover, (0, 0), blur * self.pixels_per_cm / self.factor)
            normal = self._normals(rot, shift, ellipsoids)
            layer = self._lambert(normal, light).astype(np.float32).reshape(grid, grid)
            gloss = (0.1 * np.clip(normal @ half, 0, 1) ** 24).astype(np.float32).reshape(grid, grid)
            if grid != size:
                layer = cv2.resize(layer, (size, size), interpolation=cv2.INTER_LINEAR)
                gloss = cv2.resize(gloss, (size, size), interpolation=cv2.INTER_LINEAR)
            shade += cover * (layer - shade)
            shine += cover * (gloss - shine)
        self._shadows(shade, rot, shift)
        return shade, shine

    def _shadows(self, shade, rot, shift):
        """Soft darkening (ambient occlusion) in eye sockets, under nose, lower lip and chin."""
        camera = self.scene.camera
        points = np.stack([centre for centre, _, _ in self.spots]) @ rot.T + shift
        pixels, scale = camera.project(points), camera.focal / points[:, 2]
        cos, sin = rot[:2, 0] / np.hypot(rot[0, 0], rot[1, 0])  # the head's x axis in the image
        size = shade.shape[0]
        for (_, (rx, ry), strength), (cx, cy), k in zip(self.spots, pixels, scale):
            rx, ry = rx * k, ry * k
            reach = 3 * max(rx, ry)
            x0, x1 = int(max(cx - reach, 0)), int(min(cx + reach + 1, size))
            y0, y1 = int(max(cy - reach, 0)), int(min(cy + reach + 1, size))
            if x0 >= x1 or y0 >= y1:
                continue
            dy, dx = np.ogrid[y0:y1, x0:x1]
            dx, dy = dx - cx, dy - cy
            along, across = (dx * cos + dy * sin) / rx, (dy * cos - dx * sin) / ry
            shade[y0:y1, x0:x1] *= 1 - strength * np.exp(-0.5 * (along ** 2 + across ** 2))


def render_frame(who: Identity, pose: Pose | None = None, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One frame of ``who`` in the identity's own scene: (size, size, 3) uint8 and (68, 2) float32."""
    return Renderer(who, size).render(pose or Pose())


def render_clip(who: Identity, frames: int = 32, size: int = 64, seed: int = 0, masks: bool = False):
    """A clip of ``who`` talking: frames (T, size, size, 3) uint8, landmarks (T, 68, 2) float32,
    and the per-frame pose and expression {name: (T,) array} (see :class:`Pose`); with ``masks``,
    a fourth item: the frames' regions {name: bool (T, size, size)} (:meth:`Renderer.render`).

    The seed decides the motion and the clip's small changes of camera, light and background.
    """
    if not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    rng = np.random.default_rng(seed)
    motion = random_motion(rng, int(frames))
    renderer = Renderer(who, size, rng)
    rendered = [renderer.render(motion.pose(t), masks) for t in range(len(motion))]
    clip = np.stack([r[0] for r in rendered]), np.stack([r[1] for r in rendered]), asdict(motion)
    if masks:
        return *clip, {name: np.stack([r[2][name] for r in rendered]) for name in REGIONS}
    return clip
