"""timm backbones as deepfake-detection papers use them.

- **By timm name, at the backbone's own input size and normalisation**: ``timm.create_model(name)``
  and ``timm.data.resolve_model_data_config`` give the input side (299 for ``legacy_xception``
  and ``xception41``, 224 for ``resnet50`` and ``efficientnet_b0``, 320 for ``efficientnet_b4``)
  and the mean / std; face crops are resized to that side. ``input_size`` overrides it (a
  smaller side trains faster on a CPU; the report says which was used).
- **ImageNet weights from a file the user has** (``--pretrained FILE``): loaded by timm's own
  loader, ``timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": FILE})``,
  which drops the ImageNet classifier for the one-logit head. No model hub is asked: without a
  file the backbone starts from random weights, and the report says so.
- **Fine-tuned end to end** (:class:`TimmDetector`, ``create("resnet50")``) or **frozen under a
  linear probe** (:class:`LinearProbeDetector`, ``create("probe:resnet50")``): the pooled
  features of the frozen backbone (``forward_features`` + the model's own pooling) and a
  logistic regression on them (scikit-learn), as Ojha, Li and Lee (CVPR 2023, "Towards
  Universal Fake Image Detectors that Generalize Across Generative Models") do with CLIP.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit

from fsth.io import atomic_write

from .augment import augment_images, codec_copies
from .data import FaceSet
from .metrics import fit_platt
from .models import AUGMENTATION, TorchDetector, _set_operating_point

log = logging.getLogger(__name__)
FEATURE_CACHE_LIMIT = 200_000  # frozen features kept per process (a study's images, scored by every fold)
_FEATURES: dict[tuple, np.ndarray] = {}


def check_timm_name(name: str, registered=()) -> None:
    """ValueError unless ``name`` is a model timm can build (``timm.list_models()``)."""
    import timm

    if not timm.list_models(name):
        raise ValueError(f"unknown detector {name!r}: {', '.join(registered)}, a timm model name "
                         "(timm.list_models(); e.g. legacy_xception, xception41, efficientnet_b0, efficientnet_b4, "
                         "resnet50) or probe:<timm name> (a linear probe on the frozen backbone)")


def describe_weights(pretrained_file: str | os.PathLike | None) -> str:
    """Where a backbone's weights come from, for the report: a file (name and SHA-256) or random init."""
    if not pretrained_file:
        return "random init"
    digest = hashlib.sha256(Path(pretrained_file).read_bytes()).hexdigest()[:12]
    return f"pretrained weights from {Path(pretrained_file).name} (sha256 {digest})"


def create_backbone(name: str, num_classes: int, pretrained_file: str | os.PathLike | None = None):
    """``timm.create_model(name, num_classes=...)``, with the user's ImageNet weights loaded by
    timm's own mechanism when ``pretrained_file`` is given (its classifier is left out when the
    class count differs). ValueError naming the file when it isn't weights of this model."""
    import timm

    if not pretrained_file:
        return timm.create_model(name, num_classes=num_classes)
    path = Path(pretrained_file)
    if not path.is_file():
        raise FileNotFoundError(f"--pretrained {path}: no such file")
    try:
        return timm.create_model(name, pretrained=True, num_classes=num_classes,
                                 pretrained_cfg_overlay={"file": str(path)})
    except (RuntimeError, KeyError, ValueError, OSError, EOFError) as err:
        raise ValueError(f"--pretrained {path}: not weights of timm's {name} "
                         f"({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None


def input_config(net, input_size: int = 0) -> dict:
    """The backbone's input side, mean and std (timm's data config); ``input_size`` overrides the side."""
    from timm.data import resolve_model_data_config

    cfg = resolve_model_data_config(net)
    return {"input_size": int(input_size or cfg["input_size"][-1]), "mean": tuple(cfg["mean"]),
            "std": tuple(cfg["std"])}


class TimmDetector(TorchDetector):
    """A timm backbone with a one-logit head, fine-tuned end to end (:class:`TorchDetector`'s
    training) at its own input size from ImageNet weights (``pretrained_file``) or from scratch."""

    kind = "timm"

    def __init__(self, name: str = "resnet18", pretrained_file: str | None = None, image_size: int = 64,
                 input_size: int = 0):
        self.name = name
        net = create_backbone(name, 1, pretrained_file)
        cfg = input_config(net, input_size)
        self._setup(net, image_size, cfg["mean"], cfg["std"], cfg["input_size"])
        self.weights = describe_weights(pretrained_file)
        if pretrained_file:
            self.learning_rate = 3e-4  # fine-tuning ImageNet weights: a step that keeps what they know


class LinearProbeDetector:
    """A frozen timm backbone's pooled features, then standardisation + logistic regression
    (scikit-learn), then Platt scaling on validation identities (bounded slope). Training sees
    each image once as it is and once through :mod:`detector.augment`'s chain (both classes).
    Features of unaugmented images are cached per process, so the folds of a study pay for each
    image once."""

    kind = "probe"
    prefix = "probe:"
    suffix = ".pt"
    augmentation = AUGMENTATION

    def __init__(self, name: str = "resnet50", pretrained_file: str | None = None, image_size: int = 64,
                 input_size: int = 0, c: float = 1.0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.backbone = name
        self.name = self.prefix + name
        self.net = create_backbone(name, 0, pretrained_file).eval().requires_grad_(False)
        cfg = input_config(self.net, input_size)
        self.image_size, self.input_size = image_size, cfg["input_size"]
        self.mean = torch.tensor(cfg["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg["std"], dtype=torch.float32).view(1, 3, 1, 1)
        self.weights = describe_weights(pretrained_file)
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
        self.platt, self.threshold, self.domain, self.temperature = (1.0, 0.0), 0.5, "", 1.0
        self.photo_threshold = None  # for still photos (None: the frames' threshold)
        self._fingerprint = None

    @torch.no_grad()
    def _features(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Pooled features of uint8 (N, S, S, 3) crops: (N, F)."""
        out = []
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).permute(0, 3, 1, 2).float() / 255
            x = (x - self.mean) / self.std
            if x.shape[-1] != self.input_size:
                x = F.interpolate(x, size=self.input_size, mode="bilinear", antialias=True)
            out.append(self.net.forward_head(self.net.forward_features(x), pre_logits=True).float().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.net.num_features), np.float32)

    def fingerprint(self) -> str:
        """A hash of the frozen backbone's weights: the cache key of its features."""
        if getattr(self, "_fingerprint", None) is None:
            h = hashlib.blake2b(digest_size=16)
            for name, value in self.net.state_dict().items():
                h.update(name.encode())
                h.update(value.detach().float().contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def features(self, images: np.ndarray) -> np.ndarray:
        """:meth:`_features`, each image's looked up in the process's cache first (by its bytes and
        the backbone's :meth:`fingerprint`)."""
        key = (self.backbone, self.input_size, self.fingerprint())
        digests = [hashlib.blake2b(np.ascontiguousarray(im).tobytes(), digest_size=16).digest() for im in images]
        missing = [i for i, d in enumerate(digests) if (key, d) not in _FEATURES]
        if missing:
            fresh = self._features(images[missing])
            if len(_FEATURES) + len(missing) > FEATURE_CACHE_LIMIT:
                _FEATURES.clear()
            _FEATURES.update({(key, digests[i]): f for i, f in zip(missing, fresh)})
        return np.stack([_FEATURES[(key, d)] for d in digests]) if len(images) else self._features(images)

    def fit(self, train: FaceSet, val: FaceSet | None = None, seed: int = 0, **_) -> "LinearProbeDetector":
        copies = codec_copies(train.images, train.videos, self.augmentation)
        extra = augment_images(train.images, np.random.default_rng(seed), copies, cfg=self.augmentation)
        x = np.concatenate([self.features(train.images), self._features(extra)])
        self.model.fit(x, np.concatenate([train.labels, train.labels]))
        if val is not None and len(np.unique(val.labels)) == 2:
            self.platt = fit_platt(self.logits(val.images), val.labels)
        return self

    def logits(self, images: np.ndarray) -> np.ndarray:
        """The regression's decision value per image (before Platt scaling): (N,)."""
        return self.model.decision_function(self.features(images))

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return expit(a * self.logits(images) + b)

    def save(self, path: str | os.PathLike, half: bool = False) -> Path:
        """Weights-only file: the frozen backbone, the probe's numbers, calibration and threshold."""
        scaler, lr = self.model[0], self.model[1]
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in self.net.state_dict().items()}
        probe = {"mean": torch.tensor(scaler.mean_), "scale": torch.tensor(scaler.scale_),
                 "coef": torch.tensor(lr.coef_), "intercept": torch.tensor(lr.intercept_)}
        path = Path(path)
        with atomic_write(path) as f:
            torch.save({"kind": self.kind, "name": self.name, "image_size": self.image_size,
                        "input_size": self.input_size, "weights": self.weights, "temperature": 1.0,
                        "platt": list(self.platt), "threshold": self.threshold,
                        "photo_threshold": self.photo_threshold, "domain": self.domain,
                        "state": state, "probe": probe}, f)
        return path

    @classmethod
    def from_state(cls, state: dict, source: str | os.PathLike = "detector") -> "LinearProbeDetector":
        from .models import create

        det = create(state["name"], image_size=state["image_size"], input_size=state["input_size"])
        det.net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["state"].items()})
        det._fingerprint = None  # the loaded weights, not the random ones it was created with
        probe = {k: np.asarray(state["probe"][k], np.float64) for k in ("mean", "scale", "coef", "intercept")}
        features = det.net.num_features
        if probe["coef"].shape != (1, features) or probe["mean"].shape != (features,) \
                or not all(np.isfinite(v).all() for v in probe.values()) or (probe["scale"] <= 0).any():
            raise ValueError(f"{source}: a damaged linear probe (its numbers don't fit {features} finite features)")
        platt = np.asarray(state.get("platt", (1.0, 0.0)), np.float64)
        if platt.shape != (2,) or not np.isfinite(platt).all():
            raise ValueError(f"{source}: platt must be two finite numbers")
        scaler, lr = det.model[0], det.model[1]
        scaler.mean_, scaler.scale_, scaler.var_ = probe["mean"], probe["scale"], probe["scale"] ** 2
        scaler.n_features_in_ = lr.n_features_in_ = features
        lr.coef_, lr.intercept_, lr.classes_ = probe["coef"], probe["intercept"], np.array([0, 1])
        det.platt = (float(platt[0]), float(platt[1]))
        det.weights = str(state.get("weights", det.weights))
        _set_operating_point(det, state, source)
        return det
