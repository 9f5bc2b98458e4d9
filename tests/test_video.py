import numpy as np
import pytest

from fsth.io.images import is_marked_synthetic, read_image, save_image, to_rgb
from fsth.io.video import VideoReadError, probe, read_frames, read_metadata, read_video, write_video


def test_mp4_round_trip_with_synthetic_mark(tmp_path):
    frames = np.zeros((12, 64, 80, 3), np.uint8)
    for t in range(12):
        frames[t, :, t * 5:t * 5 + 10] = 255  # a moving bar
    path = write_video(tmp_path / "out.mp4", frames, fps=24, synthetic=True)
    info = probe(path)
    assert (info.frames, info.width, info.height) == (12, 80, 64)
    assert info.fps == pytest.approx(24)
    back = read_video(path)
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 6
    assert "SYNTHETIC" in read_metadata(path)["comment"]
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_unmarked_video_has_no_mark(tmp_path, noise_frames):
    path = write_video(tmp_path / "plain.mp4", noise_frames)
    assert "SYNTHETIC" not in str(read_metadata(path))


def test_odd_sizes_are_padded_to_even(tmp_path):
    path = write_video(tmp_path / "odd.mp4", np.zeros((3, 33, 45, 3), np.uint8))
    assert (probe(path).width, probe(path).height) == (46, 34)


def test_gif_round_trip_and_selected_indices(tmp_path, noise_frames):
    path = write_video(tmp_path / "out.gif", noise_frames, synthetic=True)
    assert probe(path).frames == len(noise_frames)
    picked = list(read_frames(path, [1, 4]))
    assert len(picked) == 2 and picked[0].shape == (48, 64, 3)
    assert "SYNTHETIC" in read_metadata(path)["comment"]


def test_image_folder_is_a_stream(tmp_path, noise_frames):
    for i, frame in enumerate(noise_frames):
        save_image(tmp_path / f"{i:03d}.png", frame)
    assert probe(tmp_path).frames == len(noise_frames)
    got = list(read_frames(tmp_path, [0, 5]))
    assert np.array_equal(got[1], noise_frames[5])


@pytest.mark.parametrize("content", [b"", b"this is not a video\n" * 10])
def test_unreadable_files_name_the_file(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        probe(path)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        list(read_frames(path))


def test_truncated_mp4_fails_cleanly(tmp_path, noise_frames):
    good = write_video(tmp_path / "good.mp4", np.repeat(noise_frames, 4, axis=0))
    data = good.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoReadError, match="cut.mp4"):  # the index (moov) sits at the end
        probe(cut)
        list(read_frames(cut))


def test_images_any_mode_become_rgb(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((20, 30), 7, np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(np.full((20, 30, 4), 9, np.uint8), "RGBA").save(tmp_path / "a.png")
    assert read_image(tmp_path / "g.png").shape == (20, 30, 3)
    assert read_image(tmp_path / "a.png")[0, 0].tolist() == [9, 9, 9]
    assert to_rgb(np.ones((4, 4), np.float32)).max() == 255
    with pytest.raises(ValueError, match="cannot read image"):
        (tmp_path / "x.jpg").write_text("nope")
        read_image(tmp_path / "x.jpg")


def test_saved_images_carry_the_synthetic_mark(tmp_path, noise_frames):
    for suffix in (".png", ".jpg"):
        marked = save_image(tmp_path / f"m{suffix}", noise_frames[0], synthetic=True)
        plain = save_image(tmp_path / f"p{suffix}", noise_frames[0])
        assert is_marked_synthetic(marked) and not is_marked_synthetic(plain)


def test_a_gif_whose_frames_differ_in_size_is_read_whole_at_the_first_frames_size(tmp_path):
    """FFmpeg's demuxer counts one frame of such a GIF and called it truncated; Pillow reads all."""
    from PIL import Image

    from fsth.io.video import probe, read_frames

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 255, (40 + 10 * i, 50, 3), dtype=np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / "mixed.gif", save_all=True, append_images=frames[1:], duration=100)
    read = list(read_frames(tmp_path / "mixed.gif"))
    assert len(read) == 3 and {f.shape for f in read} == {(40, 50, 3)}
    info = probe(tmp_path / "mixed.gif")
    assert (info.frames, info.width, info.height) == (3, 50, 40) and info.fps == pytest.approx(10)
