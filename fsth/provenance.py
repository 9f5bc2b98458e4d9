"""Provenance marks in the pixels of generated frames, which survive what metadata doesn't.

fsth writes "synthetic" into every file's metadata, but a re-encode, a remux or a PNG->JPEG
conversion drops it. With ``--watermark`` (on by default in ``fsth demo``) the frames carry
two marks in their pixels as well:

* :func:`label` — a visible corner label, "SYNTHETIC · fsth", that anyone can read;
* :func:`embed` / :func:`detect` — an invisible mark: a 32-bit payload (``b"fsth"`` by
  default) that software can read back with a confidence score.

The invisible scheme, documented so anyone can re-implement the detector. Frames are
converted to luma Y (BT.601, as JPEG does) and cut into 8x8 blocks, each transformed by the
orthonormal 2-D DCT (JPEG's transform). The :data:`BAND` of seven low-frequency AC
coefficients of every block carries the payload: a keyed pseudo-random permutation assigns
each coefficient ("chip") to one payload bit, and each chip is moved to the nearest point of
a dithered lattice — ``d + k*STEP`` for a 0, ``d + (k + 1/2)*STEP`` for a 1 — with a keyed
dither ``d`` per chip (dither modulation, a form of QIM). Reading computes
``cos(2*pi*(c - d) / STEP)`` per chip (+1 on the 0-lattice, -1 on the 1-lattice) and sums the
chips of each bit over all blocks and frames: the sign is the bit, the mean magnitude the
confidence (0.05-0.15 for unmarked frames, less the more pixels; about 0.75 for marked ones
after JPEG at quality 75, whose quantisation steps in this band are 5-7, against a lattice
step of 16). The change is at most STEP/2 per coefficient, about two grey levels per
pixel (PSNR about 44 dB). It survives light re-encoding at the same size: JPEG at quality 75 and
above, fsth's own H.264 (CRF 18). It is fragile on small moving faces: on the detector study's
64 px talking heads a platform-like re-encode (H.264 CRF 23, JPEG q50) erases it from almost
every video (measured in docs/detector/report.md). Resizing, cropping by an offset that isn't
a multiple of 8 or a deliberate attack remove it too — it is a provenance signal for honest
pipelines, not a security boundary.

Why not the ``invisible-watermark`` package: it pins ``opencv-python`` next to fsth's own
OpenCV build and ``PyWavelets``; this scheme is about 60 lines of numpy.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

LABEL = "SYNTHETIC · fsth"
PAYLOAD = b"fsth"
KEY = 1905_08233  # the paper's arXiv number: the mark is public, on purpose
STEP = 16.0
BAND = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1))  # JPEG quantises these gently
MARKED = 0.3  # confidence above this: the frames carry the mark


def payload_bits(payload: bytes = PAYLOAD) -> np.ndarray:
    """The bits of ``payload``, most significant first: uint8 (8 * len,)."""
    return np.unpackbits(np.frombuffer(payload, np.uint8))


def embed(frames: np.ndarray, bits: np.ndarray | None = None, key: int = KEY) -> np.ndarray:
    """Frames uint8 (..., H, W, 3) RGB with the invisible mark of ``bits`` (default: b"fsth").

    Every frame carries all bits (frames of a video can be cut apart); a 32-bit payload
    needs frames of at least 80 x 80 pixels to be read from one frame alone, smaller ones
    (down to 32 x 32) are read from several together. Pixels outside whole 8x8 blocks are
    unchanged.
    """
    frames = np.asarray(frames)
    bits = payload_bits() if bits is None else np.asarray(bits, np.uint8).ravel()
    band, dct, ycc = _analyse(frames)
    owner, dither = _layout(band.shape[-1], len(bits), key)
    offset = dither + STEP / 2 * bits[owner]
    band = np.round((band - offset) / STEP) * STEP + offset
    return _synthesize(band, dct, ycc, frames)


def detect(frames: np.ndarray, num_bits: int = 32, key: int = KEY) -> tuple[np.ndarray, float]:
    """Read the invisible mark: (bits uint8 (num_bits,), confidence in [0, 1]).

    Reads all frames together (more frames, more certainty). ``confidence`` is the mean
    agreement of each bit's chips; above :data:`MARKED` the frames are marked, and
    ``bits`` is then the payload (compare with :func:`payload_bits`).
    """
    coeffs, _, _ = _analyse(np.asarray(frames))
    owner, dither = _layout(coeffs.shape[-1], num_bits, key)
    soft = np.cos(2 * np.pi * (coeffs - dither) / STEP).reshape(-1, coeffs.shape[-1])
    votes = np.bincount(np.tile(owner, len(soft)), weights=soft.ravel(), minlength=num_bits)
    votes /= np.bincount(owner, minlength=num_bits) * len(soft)
    return (votes < 0).astype(np.uint8), float(np.abs(votes).mean())


def is_marked(frames: np.ndarray, payload: bytes = PAYLOAD) -> bool:
    """Whether ``frames`` carry the invisible mark of ``payload``."""
    bits, confidence = detect(frames, 8 * len(payload))
    return confidence > MARKED and np.array_equal(bits, payload_bits(payload))


def label(frames: np.ndarray, text: str = LABEL) -> np.ndarray:
    """Frames uint8 (..., H, W, 3) with ``text`` in the bottom-left corner, white on a dark
    box, sized to the frame (shortened to "SYNTHETIC" or "AI" where it wouldn't fit)."""
    from PIL import Image, ImageDraw, ImageFont

    frames = np.asarray(frames)
    out = frames.reshape(-1, *frames.shape[-3:]).copy()
    h, w = out.shape[1:3]
    font = ImageFont.load_default(size=max(8, h // 12))
    fitting = [t for t in (text, text.split(" ")[0], "AI") if font.getbbox(t)[2] + 6 <= w]
    text = fitting[0] if fitting else "AI"
    left, top, right, bottom = font.getbbox(text)
    box = (0, h - (bottom - top) - 5, right + 5, h)
    for i, frame in enumerate(out):
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image, "RGBA")
        draw.rectangle(box, fill=(0, 0, 0, 170))
        draw.text((3 - left, box[1] + 2 - top), text, font=font, fill=(255, 255, 255, 255))
        out[i] = np.asarray(image)
    return out.reshape(frames.shape)


def watermark(frames: np.ndarray) -> np.ndarray:
    """Both marks: the visible :func:`label`, then the invisible :func:`embed`."""
    return embed(label(frames))


# ---- the transform -----------------------------------------------------------------------

@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    n = np.arange(8)
    m = np.sqrt(2 / 8) * np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 16)
    m[0] /= np.sqrt(2)
    return m  # orthonormal: m @ m.T == I


_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def _analyse(frames: np.ndarray):
    """(band coefficients (N, blocks * len(BAND)), luma of the whole blocks, YCbCr frames)."""
    if frames.dtype != np.uint8 or frames.ndim < 3 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (..., H, W, 3), got {frames.dtype} {frames.shape}")
    h, w = (s // 8 * 8 for s in frames.shape[-3:-1])
    if h * w < 8 * 8 * 9:
        raise ValueError(f"frames of {frames.shape[-2]}x{frames.shape[-3]} pixels are too small to mark")
    ycc = frames.reshape(-1, *frames.shape[-3:]).astype(np.float64) @ _RGB_TO_YCC.T
    y = ycc[:, :h, :w, 0] - 128
    blocks = y.reshape(len(y), h // 8, 8, w // 8, 8).transpose(0, 1, 3, 2, 4)
    m = _dct_matrix()
    dct = m @ blocks @ m.T
    band = np.stack([dct[..., u, v] for u, v in BAND], axis=-1)
    return band.reshape(len(y), -1), dct, ycc


def _synthesize(band: np.ndarray, dct: np.ndarray, ycc: np.ndarray, frames: np.ndarray) -> np.ndarray:
    band = band.reshape(*dct.shape[:3], len(BAND))
    for i, (u, v) in enumerate(BAND):
        dct[..., u, v] = band[..., i]
    m = _dct_matrix()
    n, bh, bw = dct.shape[:3]
    ycc = ycc.copy()
    ycc[:, :bh * 8, :bw * 8, 0] = (m.T @ dct @ m).transpose(0, 1, 3, 2, 4).reshape(n, bh * 8, bw * 8) + 128
    rgb = ycc @ np.linalg.inv(_RGB_TO_YCC).T
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8).reshape(frames.shape)


def _layout(chips: int, num_bits: int, key: int) -> tuple[np.ndarray, np.ndarray]:
    """Which bit each chip carries (balanced, keyed shuffle) and its keyed dither in [0, STEP)."""
    if chips < 2 * num_bits:
        raise ValueError(f"{num_bits} bits need at least {2 * num_bits} chips; the frames have {chips}")
    rng = np.random.default_rng([key, chips])
    return rng.permutation(np.arange(chips) % num_bits), rng.uniform(0, STEP, chips)
