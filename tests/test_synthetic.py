"""SynthHeads: determinism, landmarks that match the pixels, and clips that load like real ones."""
import dataclasses

import cv2
import numpy as np
import pytest

from fsth.data import list_clips, load_clip, read_meta
from fsth.data.synthetic import (Identity, Pose, Renderer, random_identity, render_clip,
                                 render_frame, write_dataset)
from fsth.data.synthetic.head import pose_transform


def person(index: int, seed: int = 0):
    return random_identity(np.random.default_rng([seed, index]))


def colour_angle(a, b) -> float:
    """Angle in degrees between two RGB colours: hue and saturation, whatever the brightness."""
    a, b = np.asarray(a, float) + 1, np.asarray(b, float) + 1
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_same_seed_same_pixels_and_landmarks():
    assert person(3) == person(3)
    first = render_clip(person(3), frames=6, size=64, seed=11)
    again = render_clip(person(3), frames=6, size=64, seed=11)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert all(np.array_equal(first[2][k], again[2][k]) for k in first[2])
    other_motion = render_clip(person(3), frames=6, size=64, seed=12)
    assert not np.array_equal(first[1], other_motion[1])


def test_different_seeds_are_different_people():
    people = [person(i) for i in range(8)]
    params = [dataclasses.astuple(p) for p in people]
    assert len(set(params)) == len(params)
    faces = np.stack([render_frame(p, Pose(), 64)[0] for p in people]).astype(float)
    differences = [np.abs(faces[i] - faces[j]).mean() for i in range(8) for j in range(i + 1, 8)]
    assert min(differences) > 10, "two identities should be easy to tell apart"
    assert person(0, seed=0) != person(0, seed=1)


def test_outputs_have_the_documented_types_and_sizes():
    for size in (32, 256):
        frames, landmarks, poses = render_clip(person(1), frames=3, size=size, seed=0)
        assert frames.shape == (3, size, size, 3) and frames.dtype == np.uint8
        assert landmarks.shape == (3, 68, 2) and landmarks.dtype == np.float32
        assert set(poses) >= {"yaw", "pitch", "roll", "jaw", "smile", "blink", "brows"}
        assert all(v.shape == (3,) for v in poses.values())


def test_landmarks_scale_with_the_image_with_pixel_centres_at_integers():
    _, small, _ = render_clip(person(2), frames=2, size=32, seed=4)
    _, large, _ = render_clip(person(2), frames=2, size=256, seed=4)
    assert np.allclose((small + 0.5) * 8 - 0.5, large, atol=1e-3)


@pytest.mark.parametrize("index", range(6))
def test_landmarks_sit_on_the_painted_face(index):
    rng = np.random.default_rng(index)
    who = person(index, seed=7)
    pose = Pose(yaw=rng.uniform(-20, 20), pitch=rng.uniform(-10, 10), roll=rng.uniform(-10, 10),
                jaw=rng.uniform(0, 1), smile=rng.uniform(0, 1))
    frame, points = render_frame(who, pose, 256)
    assert (points >= 0).all() and (points <= 255).all(), "a moderate pose keeps every point in the image"
    for corner in (48, 54):  # mouth corners lie on the lips: lip-coloured, not skin-coloured
        x, y = np.round(points[corner]).astype(int)
        assert colour_angle(frame[y, x], who.lips) < colour_angle(frame[y, x], who.skin)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(float)
    eye_distance = np.linalg.norm(points[36] - points[45])
    for first in (36, 42):  # an eye outline holds white and iris; the same outline moved onto the cheek, skin
        inside, cheek = np.zeros((256, 256), np.uint8), np.zeros((256, 256), np.uint8)
        outline = points[first:first + 6]
        cv2.fillPoly(inside, [np.round(outline).astype(np.int32)], 1)
        cv2.fillPoly(cheek, [np.round(outline + [0, 0.3 * eye_distance]).astype(np.int32)], 1)
        assert gray[inside > 0].std() > max(15.0, 1.3 * gray[cheek > 0].std())


def test_motion_is_smooth_and_talks():
    _, points, poses = render_clip(person(4), frames=48, size=64, seed=3)
    face = np.linalg.norm(points[:, 0] - points[:, 16], axis=1).mean()
    steps = np.linalg.norm(np.diff(points, axis=0), axis=2)
    assert np.median(steps) < 0.05 * face and steps.max() < 0.3 * face
    assert np.abs(np.diff(poses["yaw"])).max() < 5  # degrees per frame at 25 fps
    assert poses["jaw"].max() - poses["jaw"].min() > 0.2  # the mouth opens and closes
    mouth = np.linalg.norm(points[:, 66] - points[:, 62], axis=1)
    assert np.corrcoef(mouth, poses["jaw"])[0, 1] > 0.9


def test_dataset_loads_like_preprocessed_clips(tmp_path, samples):
    from fsth.data.preprocess import Settings, preprocess

    real = tmp_path / "real"
    preprocess(samples.fetch("takeo"), real, Settings(size=32, backend="dlib"), progress=False)
    real_clip = load_clip(list_clips(real)[0])
    summary = write_dataset(tmp_path / "synth", identities=2, clips_per_identity=2, frames=4, size=32,
                            seed=5, progress=False)
    assert summary["clips"] == summary["written"] == 4 and summary["frames"] == 16
    paths = list_clips(tmp_path / "synth")
    assert [p.relative_to(tmp_path / "synth").as_posix() for p in paths] == [
        "synth00000/clip01.npz", "synth00000/clip02.npz", "synth00001/clip01.npz", "synth00001/clip02.npz"]
    clip = load_clip(paths[0])
    assert clip.frames.dtype == real_clip.frames.dtype and clip.frames.shape == (4, 32, 32, 3)
    assert clip.landmarks.dtype == real_clip.landmarks.dtype and clip.landmarks.shape == (4, 68, 2)
    assert set(real_clip.meta) - set(clip.meta) == set(), "every key preprocessing writes is there"
    assert clip.meta["synthetic"] is True and clip.meta["identity"] == "synth00000" and clip.meta["seed"] == 5
    assert len(clip.meta["poses"]["yaw"]) == 4
    assert load_clip(paths[0], [2]).landmarks[0].tolist() == clip.landmarks[2].tolist()
    frames, landmarks, _ = render_clip(person(0, seed=5), 4, 32, clip.meta["clip_seed"])
    assert np.abs(clip.landmarks - landmarks).max() < 1e-5  # stored landmarks are exact
    assert np.abs(clip.frames.astype(float) - frames).mean() < 6  # JPEG (quality 95, chroma halved) at 32 px


def test_identity_is_stable_across_clips_and_motion_differs(tmp_path):
    write_dataset(tmp_path, identities=1, clips_per_identity=3, frames=4, size=32, seed=2, progress=False)
    metas = [read_meta(p) for p in list_clips(tmp_path)]
    assert all(m["identity_params"] == metas[0]["identity_params"] for m in metas)
    assert len({tuple(m["poses"]["yaw"]) for m in metas}) == 3
    assert Identity.from_dict(metas[0]["identity_params"]) == person(0, seed=2)  # re-render the same person


def test_writing_resumes_and_workers_give_the_same_files(tmp_path):
    kwargs = dict(identities=2, clips_per_identity=1, frames=3, size=32, seed=1, progress=False)
    write_dataset(tmp_path / "one", **kwargs)
    first = {p.name + p.parent.name: p.read_bytes() for p in list_clips(tmp_path / "one")}
    again = write_dataset(tmp_path / "one", **kwargs)
    assert again["written"] == 0 and again["skipped"] == 2
    list_clips(tmp_path / "one")[0].unlink()
    assert write_dataset(tmp_path / "one", **kwargs)["written"] == 1
    assert {p.name + p.parent.name: p.read_bytes() for p in list_clips(tmp_path / "one")} == first
    write_dataset(tmp_path / "two", **kwargs, workers=2)
    assert {p.name + p.parent.name: p.read_bytes() for p in list_clips(tmp_path / "two")} == first


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=16), "size"), (dict(size=300), "size"), (dict(identities=0), "identities"),
    (dict(clips_per_identity=0), "clips_per_identity"), (dict(frames=0), "frames"),
    (dict(workers=0), "workers"), (dict(seed=-1), "seed")])
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_dataset(tmp_path, **{"identities": 1, "frames": 2, **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_command_line(tmp_path, capsys):
    from fsth.cli import main
    from fsth.options import SynthOptions

    assert main(["synth", str(tmp_path), "--identities", "1", "--clips-per-identity", "1",
                 "--frames", "2", "--size", "32", "--seed", "3"]) == 0
    assert "1 identities, 1 clips" in capsys.readouterr().out
    assert read_meta(list_clips(tmp_path)[0])["seed"] == 3
    defaults = SynthOptions("out")
    assert (defaults.identities, defaults.clips_per_identity, defaults.frames, defaults.size,
            defaults.seed, defaults.workers) == (500, 2, 32, 64, 0, 1)


@pytest.mark.parametrize("pose", [Pose(), Pose(yaw=30), Pose(yaw=-30, pitch=10), Pose(pitch=-15, jaw=0.8)])
def test_jaw_points_follow_the_outline_of_the_face(pose):
    """Like hand annotations, the jaw runs along the face's visible edge, also when the head turns."""
    renderer = Renderer(person(5), 256)
    head = renderer.head
    rot, shift = pose_transform(pose, renderer.scene.distance)
    jaw = head.parts(pose, -rot.T @ shift)["landmarks"][:17]
    rho, theta = np.meshgrid(np.linspace(0, 1, 400), np.linspace(0, 2 * np.pi, 720))
    surface = head.mask.point(rho, theta).reshape(-1, 3)  # the face's front, densely
    surface[:, 1] += head.jaw_drop(surface[:, 1], pose.jaw)
    project = lambda points: renderer.scene.camera.project(points @ rot.T + shift).astype(np.float32)
    outline = cv2.convexHull(project(surface))
    distances = [cv2.pointPolygonTest(outline, tuple(map(float, p)), True) for p in project(jaw)]
    assert np.abs(distances).max() < 0.5  # pixels, at 256 px
