"""dlib's face-recognition network ported to PyTorch: same descriptors as dlib, a usable loss."""
import numpy as np
import pytest
import torch

dlib = pytest.importorskip("dlib")

from fsth.io.images import read_image  # noqa: E402
from fsth.identity import (DlibFormatError, IdentityEncoder, distance, identity_loss, read_layers,  # noqa: E402
                           verified)
from fsth.landmarks.detect import dlib_model_path  # noqa: E402

FACES = ["grace_hopper", "astronaut", "takeo", "einstein", "monalisa"]


@pytest.fixture(scope="module")
def faces(samples, dlib_detector):
    found = {}
    for name in FACES:
        image = read_image(samples.fetch(name))
        found[name] = (image, dlib_detector.detect(image, source=name))
    return found


@pytest.fixture(scope="module")
def encoder():
    return IdentityEncoder()


@pytest.fixture(scope="module")
def dlib_net():
    return dlib.face_recognition_model_v1(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat"))


def shape_of(points):
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))),
                                      [dlib.point(int(round(x)), int(round(y))) for x, y in points])


def test_the_port_reproduces_dlibs_descriptors(faces, encoder, dlib_net):
    images, points = zip(*faces.values())
    mine = encoder.embed_photos(images, points)
    for (name, (image, pts)), vector in zip(faces.items(), mine):
        reference = np.array(dlib_net.compute_face_descriptor(image, shape_of(pts)))
        assert np.abs(vector - reference).max() <= 1e-3, name


def test_people_are_told_apart_by_dlibs_threshold(faces, encoder):
    images, points = zip(*faces.values())
    d = encoder.embed_photos(images, points)
    pairwise = distance(d[:, None], d[None])
    off_diagonal = pairwise[~np.eye(len(d), dtype=bool)]
    assert off_diagonal.min() > 0.6  # five different people: nobody "verified" as another
    assert verified(d, d[0:1]) == pytest.approx(1 / len(d))


def test_torch_chips_match_dlib_on_faces_at_generated_scale(faces, encoder, dlib_net):
    """Generated frames are at most 256 px: faces no larger than dlib's chip, where the
    differentiable grid_sample alignment agrees with dlib's own to a few thousandths."""
    for name in ("astronaut", "takeo", "einstein"):
        image, pts = faces[name]
        reference = np.array(dlib_net.compute_face_descriptor(image, shape_of(pts)))
        tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            mine = encoder.embed(tensor, pts[None])[0].numpy()
        assert np.linalg.norm(mine - reference) < 0.02, name


def test_identity_loss_reaches_the_fake_and_prefers_the_right_face(faces, encoder):
    image, pts = faces["takeo"]
    target = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
    fake = (target + 0.3 * torch.randn_like(target)).clamp(-1, 1).requires_grad_(True)
    loss = identity_loss(encoder, fake, target, pts[None])
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert identity_loss(encoder, target, target, pts[None]).item() < 1e-5 < loss.item()


def test_a_file_that_is_not_a_dlib_network_is_refused(tmp_path):
    bogus = tmp_path / "net.dat"
    bogus.write_bytes(b"\x01\x05con_4" + b"\x00" * 10)
    with pytest.raises(DlibFormatError, match="net.dat"):
        read_layers(bogus)
