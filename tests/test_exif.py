"""Images are read upright (EXIF Orientation) and 16-bit PNGs by their real bit depth (fsth.io.images)."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from fsth.io.images import image_size, read_image
from fsth.io.video import probe

ORIENTATION = ExifTags.Base.Orientation


def portrait(height: int = 48, width: int = 32) -> np.ndarray:
    """A picture that looks different turned or flipped: a smooth gradient with a bright top-left block."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 90)], axis=2).astype(np.uint8)
    image[:12, :8] = 250
    return image


def save_with_orientation(path, pixels: np.ndarray, orientation: int, **kwargs) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(pixels).save(path, exif=exif, **kwargs)


def test_a_portrait_stored_sideways_with_orientation_6_is_read_upright(tmp_path):
    upright = portrait()
    stored = np.rot90(upright, k=1)  # turned 90 degrees anticlockwise, as a camera held sideways stores it
    save_with_orientation(tmp_path / "sideways.jpg", stored, 6, quality=98)
    Image.fromarray(upright).save(tmp_path / "upright.jpg", quality=98)

    image = read_image(tmp_path / "sideways.jpg")

    assert image.shape == upright.shape
    assert np.abs(image.astype(int) - upright).mean() < 3  # the same picture, up to JPEG
    assert np.abs(image.astype(int) - read_image(tmp_path / "upright.jpg")).mean() < 3
    assert image_size(tmp_path / "sideways.jpg") == (upright.shape[1], upright.shape[0])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_as_pillow_turns_it(tmp_path, orientation):
    path = tmp_path / f"o{orientation}.png"
    save_with_orientation(path, portrait(), orientation)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert np.array_equal(read_image(path), expected)


def test_a_folder_of_sideways_frames_is_probed_upright(tmp_path):
    for i in range(2):
        save_with_orientation(tmp_path / f"{i:02d}.png", np.rot90(portrait(), k=1), 6)
    info = probe(tmp_path)
    assert (info.width, info.height) == (32, 48)


def test_a_huge_sideways_image_is_shrunk_and_turned(tmp_path):
    upright = np.kron(portrait(), np.ones((8, 8, 1), np.uint8))  # 384 x 256
    save_with_orientation(tmp_path / "big.jpg", np.rot90(upright, k=1), 6, quality=95)
    image = read_image(tmp_path / "big.jpg", max_pixels=96 * 64)
    assert image.shape == (96, 64, 3)
    assert image[:24, :16].mean() > 200  # the bright block is still top-left


def test_a_damaged_exif_block_is_ignored_not_fatal(tmp_path):
    path = tmp_path / "odd.jpg"
    Image.fromarray(portrait()).save(path, exif=b"Exif\x00\x00garbage-not-tiff", quality=98)
    assert read_image(path).shape == (48, 32, 3)


def png16(path, samples: np.ndarray) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour): grey (H, W) or RGB (H, W, 3)."""
    height, width = samples.shape[:2]
    colour = 2 if samples.ndim == 3 else 0
    rows = samples.reshape(height, -1).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_a_16_bit_rgb_png_of_12_bit_data_is_scaled_by_4095_not_read_almost_black(tmp_path):
    eight = portrait()
    twelve = np.round(eight.astype(np.float64) * 4095 / 255).astype(np.uint16)  # 0..4095
    png16(tmp_path / "twelve.png", twelve)
    image = read_image(tmp_path / "twelve.png")
    assert image.max() == 250 and np.abs(image.astype(int) - eight).max() <= 1


def test_a_16_bit_grey_png_of_12_bit_data_is_scaled_by_4095(tmp_path):
    grey = portrait()[:, :, 0]
    png16(tmp_path / "grey.png", np.round(grey * (4095 / 255)).astype(np.uint16))
    image = read_image(tmp_path / "grey.png")
    assert np.abs(image[:, :, 0].astype(int) - grey).max() <= 1 and np.array_equal(image[:, :, 0], image[:, :, 2])


def test_a_full_range_16_bit_rgb_png_keeps_its_top_byte(tmp_path):
    eight = portrait()
    png16(tmp_path / "full.png", eight.astype(np.uint16) * 257)
    assert np.array_equal(read_image(tmp_path / "full.png"), eight)
    assert cv2.imread(str(tmp_path / "full.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # really 16-bit
