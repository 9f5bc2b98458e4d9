"""Provenance marks in the pixels of generated frames, which survive what metadata doesn't.

fsth writes "synthetic" into every file's metadata, but a re-encode, a remux or a PNG->JPEG
conversion drops it. With ``--watermark`` (on by default in ``fsth demo``) the frames carry
two marks in their pixels as well:

* :func:`label` — a visible corner label, "SYNTHETIC · fsth", that anyone can read;
* :func:`embed` / :func:`detect` — an invisible mark: a 32-bit payload (``b"fsth"`` by
  default) that software can read back with a confidence score.

The invisible scheme, documented so anyone can re-implement the detector. Frames are
converted to luma Y (BT.601, as JPEG does) and cut into square blocks, each transformed by the
orthonormal 2-D DCT. The block's size follows the frame's (:data:`TIERS`): 32x32 from 256 px
up, 16x16 from 64 px, 8x8 below — the bigger the block, the lower the spatial frequency the mark
lives at, and low frequencies are what H.264 and JPEG keep. A few of the lowest AC coefficients
of every block carry the payload: a keyed pseudo-random permutation assigns each coefficient
("chip") to one payload bit, and each chip is moved to the nearest point of a dithered lattice —
``d + k*step`` for a 0, ``d + (k + 1/2)*step`` for a 1 — with a keyed dither ``d`` per chip
(dither modulation, a form of QIM). Reading computes ``cos(2*pi*(c - d) / step)`` per chip (+1 on
the 0-lattice, -1 on the 1-lattice) and sums the chips of each bit over all blocks and frames:
the sign is the bit, the mean magnitude the ``confidence``. Whether frames are marked is a
statistical test, not a threshold on that magnitude: for unmarked frames the dither makes every
chip's cosine an independent zero-mean value of variance 1/2, so the chips' agreement with the
expected payload is a z-score (:func:`read`); :func:`is_marked` asks for z > :data:`Z_MARKED`
(a false alarm about once in 10^9 videos). The reader tries every tier that fits the frames, so a
frame resized to another tier is still read where the lattice survived.

Measured by ``benchmarks/mark_robustness.py`` (``docs/mark_robustness.md``; 3 s of a real face
video): about two grey levels per pixel (PSNR 44-46 dB); read back with no wrong bit after
H.264 at CRF 18, 23 and 28 and JPEG at quality 50, at 256, 128 and 64 px, from one frame alone
at 256 px; lost at CRF 35 on 64 px faces (z 2.8, 9 bits wrong); unmarked clips read z 0.4-1.7. Resizing by a
factor that isn't a tier's, cropping by an offset that isn't a multiple of the block size, or a
deliberate attack remove it — it is a provenance signal for honest pipelines, not a security
boundary; Content Credentials (:mod:`fsth.io.credentials`) are the signed statement.

Why not the ``invisible-watermark`` package: it pins ``opencv-python`` next to fsth's own
OpenCV build and ``PyWavelets``; this scheme is about 80 lines of numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LABEL = "SYNTHETIC · fsth"
PAYLOAD = b"fsth"
KEY = 1905_08233  # the paper's arXiv number: the mark is public, on purpose
# block size -> (lattice step, number of the lowest AC coefficients used); the step grows with the
# block so that every tier changes pixels by about the same two grey levels
TIERS = {32: (64.0, 5), 16: (40.0, 4), 8: (16.0, 7)}
SMALLEST_SIDE = {32: 256, 16: 64, 8: 24}  # frames from this size up are marked with that tier
Z_MARKED = 6.0  # z-score above which frames carry the payload (one false alarm in ~10^9)
CHUNK = 4  # frames transformed at once (memory stays flat however many frames come)
NULL_KEYS = 64  # other keys whose agreement with the payload estimates that of unmarked frames
MARKED = 0.3  # kept for callers that compare confidences; :func:`is_marked` uses the z-score


@dataclass(frozen=True)
class Reading:
    """What :func:`read` found: the bits, their mean agreement, and the z-score of the expected
    payload (the chips' agreement with it, in standard deviations of unmarked frames)."""

    bits: np.ndarray
    confidence: float
    z: float
    block: int


def payload_bits(payload: bytes = PAYLOAD) -> np.ndarray:
    """The bits of ``payload``, most significant first: uint8 (8 * len,)."""
    return np.unpackbits(np.frombuffer(payload, np.uint8))


def tier_for(height: int, width: int) -> int:
    """The block size frames of this size are marked with (see :data:`TIERS`)."""
    side = min(height, width)
    for block in (32, 16, 8):
        if side >= SMALLEST_SIDE[block]:
            return block
    raise ValueError(f"frames of {width}x{height} pixels are too small to mark (the least is 24x24)")


def embed(frames: np.ndarray, bits: np.ndarray | None = None, key: int = KEY) -> np.ndarray:
    """Frames uint8 (..., H, W, 3) RGB with the invisible mark of ``bits`` (default: b"fsth").

    Every frame carries all bits (frames of a video can be cut apart). One frame holds the
    32-bit payload once it has enough blocks (from about 80 x 80 pixels); smaller frames are
    read from several together. Pixels outside whole blocks are unchanged. Frames are
    transformed :data:`CHUNK` at a time, so memory doesn't grow with their number.
    """
    frames = _checked(frames)
    flat = frames.reshape(-1, *frames.shape[-3:])
    bits = payload_bits() if bits is None else np.asarray(bits, np.uint8).ravel()
    block = tier_for(*frames.shape[-3:-1])
    step = TIERS[block][0]
    chips = _chips_per_frame(flat.shape[1:3], block)
    owner, dither = _layout(chips, len(bits), key, step, total=chips * len(flat))
    offset = (dither + step / 2 * bits[owner]).astype(np.float32)
    out = np.empty_like(flat)
    for start in range(0, len(flat), CHUNK):
        band, dct, ycc = _analyse(flat[start:start + CHUNK], block)
        band = np.round((band - offset) / step) * step + offset
        out[start:start + CHUNK] = _synthesize(band, dct, ycc, block)
    return out.reshape(frames.shape)


def read(frames: np.ndarray, payload: bytes = PAYLOAD, key: int = KEY) -> Reading:
    """Read the invisible mark, trying every tier that fits; the tier whose chips agree best with
    ``payload`` wins (its bits are returned even when they are not the payload)."""
    frames = _checked(frames)
    expected = payload_bits(payload)
    best = None
    for block in (32, 16, 8):
        if block != 8 and min(frames.shape[-3:-1]) < 3 * block:
            continue
        try:
            reading = _read_tier(frames, block, expected, key)
        except ValueError:
            continue
        if best is None or reading.z > best.z:
            best = reading
    if best is None:
        raise ValueError(f"frames of {frames.shape[-2]}x{frames.shape[-3]} pixels are too small to read a mark from")
    return best


def _read_tier(frames: np.ndarray, block: int, expected: np.ndarray, key: int) -> Reading:
    """One tier's reading. The z-score compares the payload's agreement under the true key with its
    agreement under :data:`NULL_KEYS` other keys (unmarked frames look the same under every key),
    which stays honest when the frames of a video repeat the same content."""
    step = TIERS[block][0]
    flat = frames.reshape(-1, *frames.shape[-3:])
    chips = _chips_per_frame(flat.shape[1:3], block)
    cos_sum, sin_sum = np.zeros(chips), np.zeros(chips)  # per chip, over frames
    for start in range(0, len(flat), CHUNK):
        phase = 2 * np.pi * _analyse(flat[start:start + CHUNK], block)[0].astype(np.float64) / step
        cos_sum += np.cos(phase).sum(axis=0)
        sin_sum += np.sin(phase).sum(axis=0)
    frame_count = len(flat)

    def agreement(k: int) -> tuple[float, np.ndarray]:
        owner, dither = _layout(chips, len(expected), k, step, total=chips * frame_count)
        shift = 2 * np.pi * dither / step
        soft = cos_sum * np.cos(shift) + sin_sum * np.sin(shift)  # sum over frames of cos(phase - shift)
        votes = np.bincount(owner, weights=soft, minlength=len(expected))
        return float((votes * (1.0 - 2.0 * expected)).sum()), votes / (np.bincount(owner, minlength=len(expected)) * frame_count)

    score, votes = agreement(key)
    null = np.array([agreement(key + i)[0] for i in range(1, NULL_KEYS + 1)])
    z = (score - null.mean()) / max(null.std(), 1e-9)
    return Reading((votes < 0).astype(np.uint8), float(np.abs(votes).mean()), float(z), block)


def detect(frames: np.ndarray, num_bits: int = 32, key: int = KEY) -> tuple[np.ndarray, float]:
    """The bits the frames carry and their confidence in [0, 1] (mean agreement of each bit's
    chips), read with the tier of the frames' size. Use :func:`is_marked` to decide."""
    frames = _checked(frames)
    block = tier_for(*frames.shape[-3:-1])
    step = TIERS[block][0]
    flat = frames.reshape(-1, *frames.shape[-3:])
    chips = _chips_per_frame(flat.shape[1:3], block)
    owner, dither = _layout(chips, num_bits, key, step, total=chips * len(flat))
    soft = np.zeros(chips)
    for start in range(0, len(flat), CHUNK):
        coeffs = _analyse(flat[start:start + CHUNK], block)[0].astype(np.float64)
        soft += np.cos(2 * np.pi * (coeffs - dither) / step).sum(axis=0)
    votes = np.bincount(owner, weights=soft, minlength=num_bits) / (np.bincount(owner, minlength=num_bits) * len(flat))
    return (votes < 0).astype(np.uint8), float(np.abs(votes).mean())


def is_marked(frames: np.ndarray, payload: bytes = PAYLOAD) -> bool:
    """Whether ``frames`` carry the invisible mark of ``payload``: its z-score above :data:`Z_MARKED`
    and at most one bit in eight read wrong (a payload that shares most bits with another
    agrees with it too; the bits tell them apart)."""
    reading = read(frames, payload)
    wrong = int((reading.bits != payload_bits(payload)).sum())
    return reading.z > Z_MARKED and wrong <= len(reading.bits) // 8


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

@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)
    m = np.sqrt(2 / n) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    m[0] /= np.sqrt(2)
    return m.astype(np.float32)  # orthonormal: m @ m.T == I


BAND = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1))  # lowest AC first; JPEG quantises these gently


def _band(block: int) -> tuple[tuple[int, int], ...]:
    """The tier's coefficients: the first few of :data:`BAND`."""
    return BAND[:TIERS[block][1]]


_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def _checked(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim < 3 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (..., H, W, 3), got {frames.dtype} {frames.shape}")
    return frames


def _chips_per_frame(size: tuple[int, int], block: int) -> int:
    return (size[0] // block) * (size[1] // block) * len(_band(block))


def _analyse(frames: np.ndarray, block: int):
    """Frames uint8 (N, H, W, 3) -> (band coefficients (N, chips), DCT of the whole blocks, YCbCr
    frames), in float32: a 256 x 768 panel costs about 5 MB, not the 20 of float64."""
    h, w = (s // block * block for s in frames.shape[-3:-1])
    ycc = frames.astype(np.float32) @ _RGB_TO_YCC.T.astype(np.float32)
    y = ycc[:, :h, :w, 0] - 128
    blocks = y.reshape(len(y), h // block, block, w // block, block).transpose(0, 1, 3, 2, 4)
    m = _dct_matrix(block)
    dct = m @ blocks @ m.T
    band = np.stack([dct[..., u, v] for u, v in _band(block)], axis=-1)
    return band.reshape(len(y), -1), dct, ycc


def _synthesize(band: np.ndarray, dct: np.ndarray, ycc: np.ndarray, block: int) -> np.ndarray:
    """The frames (N, H, W, 3) uint8 whose blocks' band coefficients are ``band``."""
    coefficients = _band(block)
    band = band.reshape(*dct.shape[:3], len(coefficients))
    for i, (u, v) in enumerate(coefficients):
        dct[..., u, v] = band[..., i]
    m = _dct_matrix(block)
    n, bh, bw = dct.shape[:3]
    ycc = ycc.copy()
    ycc[:, :bh * block, :bw * block, 0] = (m.T @ dct @ m).transpose(0, 1, 3, 2, 4).reshape(n, bh * block, bw * block) + 128
    rgb = ycc @ np.linalg.inv(_RGB_TO_YCC).T.astype(np.float32)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _layout(chips: int, num_bits: int, key: int, step: float, total: int) -> tuple[np.ndarray, np.ndarray]:
    """Which bit each chip of a frame carries (balanced, keyed shuffle) and its keyed dither in
    [0, step). ``total``: chips over all frames, which must give every bit two or more."""
    if chips < num_bits or total < 2 * num_bits:
        raise ValueError(f"{num_bits} bits need at least {2 * num_bits} chips; the frames have {total}")
    rng = np.random.default_rng([key, chips])
    return rng.permutation(np.arange(chips) % num_bits), rng.uniform(0, step, chips)
