"""The invisible mark (fsth.provenance) on real face video, through fsth's own H.264 writer."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fsth import provenance
from fsth.io.video import read_frames, write_video


@pytest.fixture(scope="module")
def face_clip(samples):
    """2 s of the wolfgang sample (a real face), centre-cropped square: uint8 (50, 256, 256, 3)."""
    frames = []
    for frame in read_frames(samples.fetch("wolfgang"), range(50)):
        h, w = frame.shape[:2]
        s = min(h, w)
        frames.append(cv2.resize(frame[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s], (256, 256),
                                 interpolation=cv2.INTER_AREA))
    return np.stack(frames)


def _through_h264(tmp_path, frames, crf):
    return np.stack(list(read_frames(write_video(tmp_path / f"v{crf}.mp4", frames, crf=crf))))


@pytest.mark.parametrize("size", [256, 64])
def test_mark_survives_h264_crf_23_at_output_resolutions(tmp_path, face_clip, size):
    host = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in face_clip])
    marked = provenance.embed(host)
    psnr = 10 * np.log10(255 ** 2 / np.mean((marked.astype(float) - host) ** 2))
    assert psnr > 42  # about two grey levels: invisible
    seen = _through_h264(tmp_path, marked, crf=23)
    reading = provenance.read(seen)
    assert reading.z > provenance.Z_MARKED and np.array_equal(reading.bits, provenance.payload_bits())
    assert provenance.is_marked(seen)
    assert not provenance.is_marked(_through_h264(tmp_path, host, crf=23))


def test_a_still_repeated_is_not_mistaken_for_a_marked_video(face_clip):
    """Frames of one video repeat the same content: the reader must not count them as independent."""
    still = np.repeat(face_clip[:1], 40, axis=0)
    assert abs(provenance.read(still).z) < 4
    assert not provenance.is_marked(still)


def test_mark_is_read_at_the_tier_it_was_written_with(face_clip):
    assert provenance.tier_for(256, 256) == 32 and provenance.tier_for(128, 200) == 16
    assert provenance.tier_for(32, 32) == 8
    with pytest.raises(ValueError, match="too small"):
        provenance.tier_for(16, 16)
    marked = provenance.embed(face_clip[:3])
    assert provenance.read(marked).block == 32


def test_other_payloads_are_read_back_and_told_apart(face_clip):
    cafe = provenance.embed(face_clip[:2], provenance.payload_bits(b"cafe"))
    reading = provenance.read(cafe, b"cafe")
    assert reading.z > provenance.Z_MARKED and np.array_equal(reading.bits, provenance.payload_bits(b"cafe"))
    assert not provenance.is_marked(cafe, b"fsth")
