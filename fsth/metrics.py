"""Image and identity metrics of the paper's evaluation, on uint8 RGB frames (T, H, W, 3).

SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03), PSNR, L1;
CSIM (cosine similarity of face-identity embeddings; dlib's 128-d ResNet offline); NME
(landmark error normalised by the outer-eye-corner distance); FID and KID from Inception
pool features when Inception weights are available. Below them, motion on real portraits:
mouth and eye openings of landmark sequences, and flicker of frame sequences.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch
import torch.nn.functional as F

from .io.checkpoint import safe_torch_load
from .landmarks import regions

log = logging.getLogger(__name__)


def _per_frame(metric, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``metric(frame_a, frame_b)`` of every pair of (H, W, 3) frames in float64: (T,), or a
    scalar for a single (H, W, 3) pair."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape, got {x.shape} and {y.shape}")
    values = np.array([metric(u, v) for u, v in zip(x.reshape(-1, *x.shape[-3:]), y.reshape(-1, *y.shape[-3:]))])
    return values[0] if x.ndim == 3 else values


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Per-image SSIM (Wang et al. 2004), averaged over channels and the window positions
    that lie inside the image: scikit-image's ``structural_similarity`` with the paper's
    settings (11x11 Gaussian window, sigma 1.5, population covariance).

    a, b: (T, H, W, 3) or (H, W, 3), at least 11 pixels each side.
    """
    from skimage.metrics import structural_similarity

    def one(x, y):
        return structural_similarity(x, y, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=data_range)

    return _per_frame(one, a, b)


# the PSNR of identical images: the mean squared error floored at 1e-12 (finite, for tables and means)
PSNR_CEILING_MSE = 1e-12


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Per-image PSNR in dB: scikit-image's ``peak_signal_noise_ratio``, capped at the value of
    a mean squared error of 1e-12 so identical images score a finite ~168 dB, not infinity."""
    from skimage.metrics import peak_signal_noise_ratio

    ceiling = 10 * np.log10(data_range ** 2 / PSNR_CEILING_MSE)

    def one(x, y):
        with np.errstate(divide="ignore"):  # identical images: infinity, then the ceiling
            return min(peak_signal_noise_ratio(x, y, data_range=data_range), ceiling)

    return _per_frame(one, a, b)


def l1(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image mean absolute difference on the 0-1 scale."""
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) / 255.0
    return diff.mean(axis=tuple(range(diff.ndim - 3, diff.ndim)))


def nme(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean point error over 68 points / outer-eye-corner distance of ``truth`` (points 36, 45).

    predicted, truth: (..., 68, 2). NaN where a prediction is missing (NaN).
    """
    predicted, truth = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    ocular = np.linalg.norm(truth[..., 36, :] - truth[..., 45, :], axis=-1)
    return np.linalg.norm(predicted - truth, axis=-1).mean(axis=-1) / ocular


class IdentityEmbedder:
    """dlib's 128-d face descriptors (99.38 % on LFW), offline, computed by fsth's PyTorch port
    of dlib's network (``fsth.identity``: the same numbers as dlib, batched).

    Faces are located by known landmarks (the ones that drove or were detected on the
    frame), so small or generated faces need no face detector. Images below 192 px are
    enlarged first (dlib aligns faces into 150x150 chips).
    """

    def __init__(self, model_path: str | None = None):
        from .identity import IdentityEncoder

        self._encoder = IdentityEncoder(model_path=model_path)

    def __call__(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """images (T, H, W, 3) uint8, landmarks (T, 68, 2) -> descriptors (T, 128)."""
        import cv2

        photos, points = [], []
        for image, pts in zip(images, landmarks):
            scale = max(1.0, 192 / image.shape[0])
            if scale > 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
                pts = (pts + 0.5) * scale - 0.5
            photos.append(image)
            points.append(pts)
        return self._encoder.embed_photos(photos, np.stack(points))


def csim(embeddings_a: np.ndarray, embeddings_b: np.ndarray) -> np.ndarray:
    """Cosine similarity of paired embeddings (T, D) -> (T,). High for any two faces with
    dlib's descriptors: read it next to :func:`verified`."""
    a = embeddings_a / np.linalg.norm(embeddings_a, axis=-1, keepdims=True)
    b = embeddings_b / np.linalg.norm(embeddings_b, axis=-1, keepdims=True)
    return (a * b).sum(axis=-1)


def verified(embeddings_a: np.ndarray, embeddings_b: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """1.0 where dlib would call the paired faces the same person (Euclidean distance of the
    descriptors below its threshold 0.6), else 0.0: (T, 128), (T, 128) -> (T,)."""
    return (np.linalg.norm(np.asarray(embeddings_a) - np.asarray(embeddings_b), axis=-1) < threshold).astype(np.float64)


INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"  # torchvision's, as the torch hub caches it


class InceptionFeatures:
    """2048-d pool features of torchvision's Inception-v3 for FID/KID; None-safe factory.

    Note: the paper's FID used TensorFlow's Inception; torchvision's differs slightly, so
    compare FIDs computed the same way only.
    """

    def __init__(self, weights: str):
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        net.load_state_dict(safe_torch_load(weights, "Inception weights file", error=ValueError))
        net.fc = torch.nn.Identity()
        self.net = net.eval()

    @classmethod
    def available(cls, weights: str | None = None) -> "InceptionFeatures | None":
        path = weights or os.path.join(torch.hub.get_dir(), "checkpoints", INCEPTION_FILE)
        if not os.path.exists(path):
            log.info("FID/KID skipped: no Inception weights (put %s in %s/checkpoints)",
                     INCEPTION_FILE, torch.hub.get_dir())
            return None
        return cls(path)

    @torch.no_grad()
    def __call__(self, images: np.ndarray, batch: int = 32) -> np.ndarray:
        feats = []
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start:start + batch]).permute(0, 3, 1, 2).float() / 255
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            feats.append(self.net((x - mean) / std).numpy())
        return np.concatenate(feats)


def fid(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    from scipy import linalg

    mu1, mu2 = real_features.mean(0), fake_features.mean(0)
    s1, s2 = np.cov(real_features, rowvar=False), np.cov(fake_features, rowvar=False)
    covmean = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def kid(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    """Kernel inception distance: unbiased MMD² with the cubic polynomial kernel."""
    d = real_features.shape[1]
    kernel = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m, n = len(real_features), len(fake_features)
    kxx, kyy, kxy = kernel(real_features, real_features), kernel(fake_features, fake_features), \
        kernel(real_features, fake_features)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


# ---- detection: the course's detectability lesson and the detector study share these ----

def eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate: where the false-positive rate equals the false-negative rate."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    gap = (1 - tpr) - fpr  # falls from +1 (threshold above all) to -1
    j = int(np.argmax(gap <= 0))  # first ROC point where FNR <= FPR
    if j == 0:
        return float(fpr[0])
    t = gap[j - 1] / (gap[j - 1] - gap[j])  # linear interpolation to the crossing
    return float(fpr[j - 1] + t * (fpr[j] - fpr[j - 1]))


def fit_temperature(logits, labels) -> float:
    """Temperature T minimising the validation NLL of sigmoid(logit / T) (fit on validation only)."""
    from scipy.optimize import minimize_scalar

    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def nll(log_t):
        z = logits / np.exp(log_t)
        return np.mean(np.logaddexp(0, z) - labels * z)

    return float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x))


# ---- motion on real portraits: does the result move as much as its driver? ----
#
# Landmarks here are (T, 68, 2) sequences; a frame where no face was found is a row of NaN
# (see detected_landmarks) and is left out of every summary. Openings are divided by the
# outer-eye-corner distance (points 36 and 45), so faces of any size compare.

def detected_landmarks(frames, detector, source: str = "frames") -> np.ndarray:
    """68 points of every frame (T, H, W, 3) by ``detector`` (``fsth.landmarks.create_detector``)
    -> (T, 68, 2) float32, a row of NaN where no face was found (the metrics below skip it)."""
    found = detector.detect_frames(frames, source=source, on_missing="skip")
    rows = [np.full((68, 2), np.nan, np.float32) if p is None else np.asarray(p, np.float32) for p in found]
    return np.stack(rows) if rows else np.zeros((0, 68, 2), np.float32)


def _frames_of_points(points) -> np.ndarray:
    points = np.asarray(points, np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must have shape (T, 68, 2), got {points.shape}")
    return points


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """Inner-lip gap per frame over the outer-eye-corner distance (fsth.landmarks.regions):
    (T, 68, 2) -> (T,); ~0 closed, NaN where a frame's points are NaN."""
    return regions.mouth_opening(_frames_of_points(points))


def eye_opening(points: np.ndarray) -> np.ndarray:
    """Eyelid gap per frame, both eyes, over the outer-eye-corner distance (fsth.landmarks.regions):
    (T, 68, 2) -> (T,), NaN where a frame's points are NaN."""
    return regions.eye_opening(_frames_of_points(points))


def _paired(result: np.ndarray, driver: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two (T,) series with the frames where either is NaN left out."""
    result, driver = np.asarray(result, np.float64), np.asarray(driver, np.float64)
    if result.shape != driver.shape:
        raise ValueError(f"result and driver need one value per frame each, got {result.shape} and {driver.shape}")
    keep = ~(np.isnan(result) | np.isnan(driver))
    return result[keep], driver[keep]


def mouth_span_ratio(result_points: np.ndarray, driver_points: np.ndarray) -> tuple[float, float]:
    """How much of the driver's talking the result shows: (span ratio, correlation).

    span ratio: the result's mouth-opening span (90th minus 10th percentile over the frames)
    over the driver's; 1 follows the driver fully, near 0 a mouth that stays shut or fixed.
    correlation: Pearson's r (``np.corrcoef``) of the two opening series: whether the mouth
    opens on the right frames. Both (T, 68, 2), the same frames; frames where either has no
    face are left out; NaN where too few frames are left or a series does not move.
    """
    result, driver = _paired(mouth_opening(result_points), mouth_opening(driver_points))
    if len(result) < 2:
        return float("nan"), float("nan")
    span = lambda x: np.percentile(x, 90) - np.percentile(x, 10)  # noqa: E731
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = span(result) / span(driver) if span(driver) > 0 else float("nan")
        r = np.corrcoef(result, driver)[0, 1] if result.std() > 0 and driver.std() > 0 else float("nan")
    return float(ratio), float(r)


def blink_ratio(result_points: np.ndarray, driver_points: np.ndarray, threshold: float = 0.5) -> float:
    """Whether the result blinks when its driver does: the result's mean eye opening on the
    driver's blink frames (the driver's opening below ``threshold`` times its median) over
    the result's median opening. ~1: the result's eyes stay open through the driver's blinks;
    well below 1: it blinks too. NaN when the driver never blinks (on frames where both
    have a face). Both (T, 68, 2), the same frames.
    """
    return blink_ratio_of(eye_opening(result_points), eye_opening(driver_points), threshold)


def blink_ratio_of(result_opening: np.ndarray, driver_opening: np.ndarray, threshold: float = 0.5) -> float:
    """:func:`blink_ratio` from two eye-opening series (T,) instead of landmarks — the result's
    read by any instrument (a mesh, a photometric measure), the driver's deciding which frames
    are blinks; NaN frames are left out."""
    result, driver = _paired(result_opening, driver_opening)
    if not len(driver):
        return float("nan")
    blinks = driver < threshold * np.median(driver)
    if not blinks.any():
        return float("nan")
    median = np.median(result)
    return float(result[blinks].mean() / median) if median > 0 else float("nan")


def _mean_change(frames) -> float:
    """Mean |difference| of consecutive uint8 frames (T, H, W, 3), over pixels, channels
    and the T - 1 steps, on the 0-255 scale (one step at a time: no (T, H, W, 3) float copy)."""
    steps = [np.abs(b.astype(np.int16) - a.astype(np.int16)).mean() for a, b in zip(frames[:-1], frames[1:])]
    if not steps:
        raise ValueError("flicker needs at least two frames")
    return float(np.mean(steps))


def flicker(frames, driver_frames) -> float:
    """Frame-to-frame change of a result relative to its driver: mean |Δ| between consecutive
    frames of the result over the same of the driving video (uint8 (T, H, W, 3) each; the
    sizes may differ, the means are per pixel). ~1 changes as much as the driver; well above
    1 flickers or trembles. Pixel means depend on how much of the frame the face fills, so
    compare results with each other on one driver rather than reading 1 as a target.
    """
    driver = _mean_change(driver_frames)
    return _mean_change(frames) / driver if driver > 0 else float("nan")


LUMA = np.array([0.299, 0.587, 0.114])


def mouth_interior(frames, points, min_opening: float = 0.12) -> dict:
    """What open mouths show, measured on any faces, real or rendered: over the frames whose
    inner-lip gap is at least ``min_opening`` eye-corner distances, the share of the opening's
    pixels (inside the inner lips, 1 px in from them) brighter than 0.9x the cheeks' median
    luminance ("bright": teeth, mostly) and darker than 0.35x ("dark": a shadowed cavity), and
    the opening's median luminance over the cheeks' ("brightness"; cheeks: discs between the jaw
    and the nose's wings). Compares SynthHeads' mouths with real ones, or a result's with its
    driver's. frames: T uint8 (H, W, 3), points (T, 68, 2) in their pixels.
    {"frames": counted, "bright", "dark", "brightness"} (NaN where none is counted)."""
    import cv2

    shares = []
    points = _frames_of_points(points)  # frames: any sequence of images, not stacked (a long clip)
    scales = regions.interocular(points)
    for frame, p, scale, gap in zip(frames, points, scales, mouth_opening(points)):
        if not np.isfinite(p).all() or not gap >= min_opening:
            continue
        inside = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.round(p[60:68]).astype(np.int32)], 1)
        inside = cv2.erode(inside, np.ones((3, 3), np.uint8))
        cheeks = np.zeros_like(inside)
        for jaw, nose in ((2, 31), (14, 35)):
            centre = tuple(int(v) for v in np.round((p[jaw] + p[nose]) / 2))
            cv2.circle(cheeks, centre, max(2, int(0.08 * scale)), 1, -1)
        if inside.sum() < 9 or not cheeks.any():
            continue
        luma = frame[inside > 0].astype(np.float64) @ LUMA
        skin = float(np.median(frame[cheeks > 0].astype(np.float64) @ LUMA))
        if skin <= 0:
            continue
        shares.append(((luma > 0.9 * skin).mean(), (luma < 0.35 * skin).mean(), np.median(luma) / skin))
    values = np.mean(shares, 0) if shares else np.full(3, np.nan)
    return {"frames": len(shares), **{k: float(v) for k, v in zip(("bright", "dark", "brightness"), values)}}
