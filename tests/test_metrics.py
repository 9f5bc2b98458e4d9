import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from fsth import metrics
from fsth.io.images import read_image


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 40, 48, 3)).astype(np.uint8)
    smooth = np.clip(a.astype(int) // 2 + 64 + rng.integers(-20, 20, a.shape), 0, 255).astype(np.uint8)
    return a, smooth


def test_ssim_matches_scikit_image(pair):
    a, b = pair
    ours = metrics.ssim(a, b)
    for i in range(len(a)):
        ref = structural_similarity(a[i], b[i], channel_axis=2, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=255)
        assert ours[i] == pytest.approx(ref, abs=1e-6)
    assert metrics.ssim(a[0], a[0]) == pytest.approx(1.0)


def test_psnr_and_l1_match_independent_computations(pair):
    a, b = pair
    for i in range(len(a)):
        assert metrics.psnr(a, b)[i] == pytest.approx(peak_signal_noise_ratio(a[i], b[i], data_range=255))
    assert metrics.l1(np.zeros((1, 2, 2, 3), np.uint8), np.full((1, 2, 2, 3), 51, np.uint8))[0] == pytest.approx(0.2)


def test_nme_hand_built_case():
    truth = np.zeros((68, 2))
    truth[36], truth[45] = [0, 0], [100, 0]
    predicted = truth + [3, 4]  # every point 5 px off
    assert metrics.nme(predicted, truth) == pytest.approx(0.05)
    assert metrics.nme(np.stack([predicted, truth]), np.stack([truth, truth])).tolist() == pytest.approx([0.05, 0])


def test_csim_hand_built_case():
    a = np.array([[1.0, 0, 0], [1, 1, 0]])
    b = np.array([[2.0, 0, 0], [0, 0, 1]])
    assert metrics.csim(a, b).tolist() == pytest.approx([1.0, 0.0])


def test_identity_embeddings_tell_people_apart(samples, dlib_detector):
    embed = metrics.IdentityEmbedder()
    faces = {}
    for name in ("takeo", "grace_hopper", "astronaut"):
        image = read_image(samples.fetch(name))
        faces[name] = (image, dlib_detector.detect(image))
    take, points = faces["takeo"]
    flipped = take[:, ::-1].copy()
    flipped_points = dlib_detector.detect(flipped)
    e = {n: embed(img[None], pts[None])[0] for n, (img, pts) in faces.items()}
    same = metrics.csim(e["takeo"][None], embed(flipped[None], flipped_points[None]))[0]
    other = metrics.csim(e["takeo"][None], e["grace_hopper"][None])[0]
    assert 1.0 < np.linalg.norm(e["takeo"]) < 2.0  # dlib's raw descriptors, not unit vectors
    assert same > 0.9 and same > other + 0.1
    # dlib's own rule: the same person below a Euclidean distance of 0.6
    mirrored = embed(flipped[None], flipped_points[None])
    assert metrics.verified(e["takeo"][None], mirrored)[0] == 1.0
    assert metrics.verified(e["takeo"][None], e["grace_hopper"][None])[0] == 0.0
    assert metrics.csim(e["astronaut"][None], e["grace_hopper"][None])[0] < same - 0.1


def test_fid_and_kid_are_zero_for_identical_sets_and_grow_with_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    assert metrics.fid(x, x) == pytest.approx(0, abs=1e-6)
    assert metrics.fid(x, x + 1) == pytest.approx(8, rel=1e-3)  # mean shift of 1 in 8 dims
    assert abs(metrics.kid(x, rng.normal(size=(200, 8)))) < 0.05 < metrics.kid(x, x + 1)
