"""Deepfake detectors created by name: ``create("frequency")`` (radial spectrum + logistic
regression), ``create("residual")`` (fixed high-pass filters + a ~95k-parameter CNN), any timm
backbone fine-tuned end to end at its own input size (``create("resnet50")``,
``create("legacy_xception")``, ``create("efficientnet_b4")``, ...) or a linear probe on a frozen
one (``create("probe:resnet50", pretrained_file=...)``): see :mod:`detector.backbones`.

Every detector: ``fit(train, val)``, ``predict_proba(images) -> P(fake)``, ``save(path)``,
``load(path)``, plus ``threshold`` (the operating point, fitted on validation identities) and
``domain`` (what it was trained on, said next to every score). Every detector trains with the
same augmentation of both classes (:mod:`detector.augment`), and its calibration (temperature or
Platt slope) is bounded (:data:`detector.metrics.TEMPERATURE_RANGE`). Files load without pickles
(a detector file can't run code), and are checked before use: a file that isn't a detector, or
whose numbers are missing, non-finite or absurd (``bins: 1e9`` would allocate 512 GiB), is
refused with a ValueError naming it.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit
from tqdm.auto import tqdm

from fsth import SHIPPED_DETECTORS
from fsth.io import atomic_write

from .augment import DEFAULT as AUGMENTATION, augment, augment_images, codec_copies  # noqa: F401 (augment: API)
from .data import FaceSet
from .metrics import fit_bounded_temperature, fit_platt

log = logging.getLogger(__name__)
MAX_BINS = 4096  # radial frequency bins: far more than any image side in pixels needs
MAX_COEFFICIENT = 1e6  # |number| in a frequency detector file; fitted ones stay below 100 (log spectra, standardised)
MAX_IMAGE_SIZE = 1024  # input side of a CNN detector; the shipped ones work at 64


def radial_spectrum(images: np.ndarray, bins: int = 32) -> np.ndarray:
    """Azimuthally averaged log power spectrum of each grayscale image: (N, bins).

    Generators that upsample leave periodic traces at high spatial frequencies; this
    1-D profile of the 2-D spectrum is the classic cheap detector feature.
    """
    gray = images.astype(np.float64).mean(axis=-1)
    gray -= gray.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray), axes=(1, 2))) ** 2
    h, w = gray.shape[1:]
    yy, xx = np.indices((h, w))
    radius = np.hypot(yy - h // 2, xx - w // 2)
    which = np.minimum((radius / radius.max() * bins).astype(int), bins - 1).ravel()
    counts = np.bincount(which, minlength=bins)
    profile = np.stack([np.bincount(which, weights=p.ravel(), minlength=bins) for p in power]) / counts
    return np.log(profile + 1e-8)


class FrequencyDetector:
    """Radial power spectrum -> standardisation -> logistic regression (scikit-learn), then
    Platt scaling fitted on validation identities: P(fake) = sigmoid(a·z + b) of the
    regression's decision value z. The L2 penalty is strong (``c`` = 0.01): 32 neighbouring,
    correlated bins and few kinds of real face let a weakly penalised fit hang large opposite
    weights on single bins, and one bin's quirk (a flat studio backdrop) then decides."""

    name = "frequency"
    suffix = ".json"  # what save() writes

    def __init__(self, bins: int = 32, c: float = 0.01, image_size: int = 64):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.bins = bins
        self.image_size = image_size  # the side of the faces it was fitted on: ``detect score`` crops at it
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        self.platt = (1.0, 0.0)
        self.threshold, self.photo_threshold, self.domain = 0.5, None, ""  # photo: None = the frames'

    augmentation = AUGMENTATION

    def fit(self, train: FaceSet, val: FaceSet | None = None, seed: int = 0, **_) -> "FrequencyDetector":
        """Fit on ``train`` and one augmented copy of it (:mod:`detector.augment`, both classes
        alike); Platt scaling on ``val``."""
        images, labels = train.images, train.labels
        self.image_size = int(images.shape[1])
        if self.augmentation.codec or self.augmentation.resize or self.augmentation.blur:
            copies = codec_copies(train.images, train.videos, self.augmentation)
            extra = augment_images(train.images, np.random.default_rng(seed), copies, cfg=self.augmentation)
            images, labels = np.concatenate([images, extra]), np.concatenate([labels, labels])
        self.model.fit(radial_spectrum(images, self.bins), labels)
        if val is not None and len(np.unique(val.labels)) == 2:
            self.platt = fit_platt(self.logits(val.images), val.labels)
        return self

    def logits(self, images: np.ndarray) -> np.ndarray:
        """The regression's decision value per image (before Platt scaling): (N,)."""
        return self.model.decision_function(radial_spectrum(images, self.bins))

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return expit(a * self.logits(images) + b)

    def save(self, path: str | os.PathLike) -> Path:
        scaler, lr = self.model[0], self.model[1]
        state = {"kind": "frequency", "bins": self.bins, "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
                 "coef": lr.coef_.tolist(), "intercept": lr.intercept_.tolist(), "classes": lr.classes_.tolist(),
                 "platt": list(self.platt), "threshold": self.threshold,
                 "photo_threshold": self.photo_threshold, "domain": self.domain,
                 "image_size": self.image_size}
        path = Path(path)
        with atomic_write(path, "w") as f:
            f.write(json.dumps(state))
        return path

    @classmethod
    def from_state(cls, state: dict, source: str | os.PathLike = "frequency detector") -> "FrequencyDetector":
        """The detector a :meth:`save` file describes, after checking every number in it."""
        _check_frequency_state(state, source)
        size = state.get("image_size", 64)  # files from before it was saved were fitted on 64 px faces
        if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 4096:
            raise ValueError(f"{source}: image_size must be an integer from 8 to 4096, not {size!r}")
        det = cls(bins=state["bins"], image_size=size)
        scaler, lr = det.model[0], det.model[1]
        scaler.mean_, scaler.scale_ = np.array(state["mean"]), np.array(state["scale"])
        scaler.var_, scaler.n_features_in_ = scaler.scale_ ** 2, len(scaler.mean_)
        lr.coef_, lr.intercept_ = np.array(state["coef"]), np.array(state["intercept"])
        lr.classes_, lr.n_features_in_ = np.array(state["classes"]), len(scaler.mean_)
        det.platt = tuple(float(v) for v in state.get("platt", (1.0, 0.0)))
        _set_operating_point(det, state, source)
        return det


def _set_operating_point(det, state: dict, source) -> None:
    """Thresholds and training domain of a saved detector (files from before they existed: 0.5,
    no photo threshold, "")."""
    for key, default in (("threshold", 0.5), ("photo_threshold", None)):
        value = state.get(key, default)
        if value is None and key == "photo_threshold":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{source}: {key} must be a number in [0, 1], not {value!r}")
    det.threshold, det.domain = float(state.get("threshold", 0.5)), str(state.get("domain", ""))
    photo = state.get("photo_threshold")
    det.photo_threshold = None if photo is None else float(photo)


def row_thresholds(det, settings) -> np.ndarray:
    """Each face's threshold by its kind: real photos (setting "photo") at the detector's photo
    threshold, every other face (video frames) at its frames' threshold: (N,)."""
    photo = np.asarray(settings).astype(str) == "photo"
    return np.where(photo, threshold_for(det, "photo"), threshold_for(det, "video"))


def threshold_for(det, kind: str = "video") -> float:
    """The detector's operating threshold for a kind of media: ``"video"`` (frames: what fsth's
    fakes are) or ``"photo"`` (a still photograph, calibrated on real photos of its own, where
    the study had them; otherwise the frames' threshold)."""
    photo = getattr(det, "photo_threshold", None)
    return float(photo) if kind == "photo" and photo is not None else float(det.threshold)


def _check_frequency_state(state, source) -> None:
    """ValueError naming ``source`` unless ``state`` is a complete, finite, sane frequency detector."""
    if not isinstance(state, dict) or state.get("kind") != "frequency":
        raise ValueError(f"{source}: not a saved fsth frequency detector (no \"kind\": \"frequency\")")
    missing = [k for k in ("bins", "mean", "scale", "coef", "intercept", "classes") if k not in state]
    if missing:
        raise ValueError(f"{source}: incomplete frequency detector, missing {', '.join(missing)}")
    bins = state["bins"]
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise ValueError(f"{source}: bins must be an integer from 1 to {MAX_BINS}, not {bins!r}")
    shapes = {"mean": (bins,), "scale": (bins,), "coef": (1, bins), "intercept": (1,), "classes": (2,), "platt": (2,)}
    for key, shape in shapes.items():
        if key not in state:
            continue
        try:
            values = np.asarray(state[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: {key} must be numbers") from None
        if values.shape != shape or not np.isfinite(values).all():
            raise ValueError(f"{source}: {key} must be {' x '.join(map(str, shape))} finite numbers "
                             f"(bins = {bins}), found shape {values.shape}"
                             + ("" if values.shape != shape else " with NaN or infinity"))
    if (np.asarray(state["scale"]) <= 0).any():
        raise ValueError(f"{source}: scale must be positive")
    for key in ("mean", "scale", "coef", "intercept", "platt"):
        if key in state and np.abs(np.asarray(state[key], np.float64)).max() > MAX_COEFFICIENT:
            raise ValueError(f"{source}: {key} holds numbers beyond ±{MAX_COEFFICIENT:g}; a fitted detector's are "
                             "far smaller (a damaged or tampered file)")
    if [float(c) for c in state["classes"]] != [0.0, 1.0]:
        raise ValueError(f"{source}: classes must be [0, 1] (real, fake), not {state['classes']!r}; other labels "
                         "would turn P(fake) into P(real)")


class TorchDetector:
    """What every CNN detector shares: one output (the logit of 'fake'), AdamW + one-cycle
    training with :mod:`detector.augment`'s chains on both classes (H.264 copies of the training
    set made once per fit), bf16/channels-last where this CPU does it fastest (fsth.hardware),
    and a temperature fitted on validation identities only, within
    :data:`detector.metrics.TEMPERATURE_RANGE`.

    ``image_size`` is the side of the face crops it is given (and ``fsth detect score`` crops
    at); ``input_size`` the side its network sees (a timm backbone's own, e.g. 224: crops are
    resized to it). Subclasses set ``self.net`` (input float (B, 3, input, input) normalised by
    ``mean``/``std``) and ``kind``/``options`` for :meth:`save`."""

    suffix = ".pt"
    kind = "torch"
    weights = "random init"  # where the network's starting weights came from (said in the report)
    augmentation = AUGMENTATION
    learning_rate = 2e-3  # peak of the one-cycle schedule (from scratch; pretrained backbones use less)

    def _setup(self, net: torch.nn.Module, image_size: int, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
               input_size: int | None = None):
        from fsth.hardware import choose

        self.net, self.image_size, self.input_size = net, image_size, input_size or image_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.temperature, self.threshold, self.photo_threshold, self.domain = 1.0, 0.5, None, ""
        self.precision = choose("cpu")

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        from fsth.hardware import autocast

        x = (images - self.mean) / self.std
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", antialias=True)
        if self.precision.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast("cpu", self.precision.amp):
            return self.net(x).squeeze(1).float()

    def fit(self, train: FaceSet, val: FaceSet | None = None, epochs: int = 6, batch_size: int = 64,
            lr: float | None = None, seed: int = 0, progress: bool = True) -> "TorchDetector":
        lr = lr or self.learning_rate
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        rng = np.random.default_rng(seed)
        images = torch.from_numpy(train.images).permute(0, 3, 1, 2).contiguous()
        copies = codec_copies(train.images, train.videos, self.augmentation)
        labels = torch.from_numpy(train.labels.astype(np.float32))
        if self.precision.channels_last:
            self.net.to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW([p for p in self.net.parameters() if p.requires_grad], lr=lr, weight_decay=0.05)
        steps = epochs * ((len(images) + batch_size - 1) // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        self.net.train()
        bar = tqdm(total=steps, desc=f"train {self.name}", disable=not progress)
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=g)
            for start in range(0, len(images), batch_size):
                pick = order[start:start + batch_size]
                batch = augment(images[pick], rng, copies, pick.numpy(), self.augmentation)
                loss = F.binary_cross_entropy_with_logits(self._logits(batch), labels[pick])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        self.net.eval()
        if val is not None and len(np.unique(val.labels)) == 2:
            self.temperature = fit_bounded_temperature(self.logits(val.images), val.labels)
        return self

    @torch.no_grad()
    def logits(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Uncalibrated logits of 'fake': uint8 (N, S, S, 3) -> (N,)."""
        self.net.eval()
        out = [self._logits(torch.from_numpy(images[i:i + batch_size]).permute(0, 3, 1, 2).float() / 255)
               for i in range(0, len(images), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Calibrated P(fake) per image: uint8 (N, S, S, 3) -> float (N,)."""
        return expit(self.logits(images).astype(np.float64) / self.temperature)

    def save(self, path: str | os.PathLike, half: bool = False) -> Path:
        """Weights-only file; ``half`` stores float16 weights (half the size, for shipping)."""
        path = Path(path)
        state = {k: v.half() if half and v.is_floating_point() else v
                 for k, v in self.net.state_dict().items()}
        with atomic_write(path) as f:
            torch.save({"kind": self.kind, "name": self.name, "image_size": self.image_size,
                        "input_size": self.input_size, "weights": self.weights,
                        "temperature": self.temperature, "threshold": self.threshold,
                        "photo_threshold": self.photo_threshold, "domain": self.domain,
                        "state": state}, f)
        return path

    @classmethod
    def from_state(cls, state: dict, source: str | os.PathLike = "detector") -> "TorchDetector":
        # files from before input_size was saved fed the network at image_size
        det = create(state["name"], image_size=state["image_size"],
                     input_size=state.get("input_size") or state["image_size"])
        det.weights = str(state.get("weights", det.weights))
        det.net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["state"].items()})
        det.temperature = float(state["temperature"])
        _set_operating_point(det, state, source)
        det.net.eval()
        return det


def residual_filters() -> torch.Tensor:
    """Four fixed 5x5 high-pass kernels (the SRM 'KB', 'KV' and second-order kernels of
    steganalysis, and a Laplacian): they remove the face and keep the noise residual,
    where resampling traces live. (4, 1, 5, 5)."""
    kb = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]) / 4.0
    kv = np.array([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2],
                   [-1, 2, -2, 2, -1]]) / 12.0
    second = np.array([[0, 0, 0], [1, -2, 1], [0, 0, 0]]) / 2.0
    laplace = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]) / 4.0
    pad = lambda k: np.pad(k, (5 - len(k)) // 2)  # noqa: E731
    return torch.tensor(np.stack([pad(kb), kv, pad(second), pad(laplace)]), dtype=torch.float32)[:, None]


class ResidualNet(torch.nn.Module):
    """Fixed high-pass filters on each colour channel (12 residual maps), then a small CNN
    that stays at full resolution for its first two layers (stride 1: a 1-pixel periodic
    trace survives) before halving twice; global average pooling; one logit. ~95k
    parameters. (B, 3, S, S) -> (B, 1)."""

    def __init__(self, width: int = 28):
        super().__init__()
        self.register_buffer("filters", residual_filters().repeat(3, 1, 1, 1))  # (12, 1, 5, 5), per channel

        def block(cin, cout, stride):
            return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                                       torch.nn.BatchNorm2d(cout), torch.nn.ReLU(inplace=True))

        self.body = torch.nn.Sequential(block(12, width, 1), block(width, width, 1), block(width, 2 * width, 2),
                                        block(2 * width, 2 * width, 1), block(2 * width, 3 * width, 2))
        self.head = torch.nn.Linear(3 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = F.conv2d(x, self.filters.to(x.dtype), padding=2, groups=3)
        return self.head(self.body(residual).mean(dim=(2, 3)))


class ResidualDetector(TorchDetector):
    """The high-pass-residual CNN (:class:`ResidualNet`), trained like the timm backbones."""

    name = "residual"
    kind = "residual"

    def __init__(self, image_size: int = 64, width: int = 28):
        self._setup(ResidualNet(width), image_size)


REGISTRY: dict[str, type] = {}  # detectors by name; any other name is tried as a timm backbone
# the detectors fsth ships in fsth/pretrained/ (python -m detector study --ship writes them; the demo scores with them)
SHIPPED = SHIPPED_DETECTORS  # registry name -> file in fsth/pretrained (fsth.assets)


def register(cls: type) -> type:
    """Make a detector class available by its ``name`` to create(), the study and scoring."""
    REGISTRY[cls.name] = cls
    return cls


register(FrequencyDetector)
register(ResidualDetector)


def create(name: str, **kwargs):
    """A detector by name: a registered one ("frequency", "residual"), a timm backbone fine-tuned
    end to end ("resnet50", "legacy_xception", "efficientnet_b0" ...) or a linear probe on a frozen
    one ("probe:resnet50"). Keyword arguments the detector doesn't take are left out (timm's
    habit), so callers can pass one set of options (``image_size``, ``input_size``,
    ``pretrained_file``) to every detector."""
    import inspect

    from .backbones import LinearProbeDetector, TimmDetector, check_timm_name

    cls = REGISTRY.get(name)
    if cls is None:
        probe = name.startswith(LinearProbeDetector.prefix)
        backbone = name[len(LinearProbeDetector.prefix):] if probe else name
        check_timm_name(backbone, registered=sorted(REGISTRY))
        cls, kwargs = (LinearProbeDetector if probe else TimmDetector), {"name": backbone, **kwargs}
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in kwargs.items() if k in accepted})


def load(path: str | os.PathLike):
    """Load a saved detector (JSON for the frequency baseline, a weights-only torch file for
    the CNNs). Every detector has ``predict_proba``, ``threshold`` (its operating point,
    fitted on validation identities) and ``domain`` (what it was trained on)."""
    from fsth.io.checkpoint import safe_torch_load

    path = Path(path)
    if path.suffix == ".json":
        try:
            state = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a saved fsth detector (not JSON: {err})") from None
        return FrequencyDetector.from_state(state, path)
    from .backbones import LinearProbeDetector, TimmDetector

    state = safe_torch_load(path, "fsth detector file", error=ValueError)
    kinds = {"timm": TimmDetector, "residual": ResidualDetector, "probe": LinearProbeDetector}
    if not isinstance(state, dict) or state.get("kind") not in kinds or not {"name", "image_size", "state"} <= set(state):
        raise ValueError(f"{path}: not a saved fsth detector")
    temperature = state.get("temperature")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < float("inf"):
        raise ValueError(f"{path}: temperature must be a positive number, not {temperature!r}")
    for key in ("image_size", "input_size"):
        size = state.get(key, state["image_size"])
        if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= MAX_IMAGE_SIZE:
            raise ValueError(f"{path}: {key} must be an integer from 8 to {MAX_IMAGE_SIZE}, not {size!r}")
    weights = state["state"] if isinstance(state["state"], dict) else {}
    bad = [k for k, v in weights.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
           and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{path}: weights hold NaN or infinite values ({', '.join(bad[:3])}); a damaged detector")
    try:
        return kinds[state["kind"]].from_state(state, path)
    except (RuntimeError, KeyError, TypeError, AttributeError) as err:  # weights that don't fit the named network
        raise ValueError(f"{path}: a damaged fsth detector ({type(err).__name__}: {' '.join(str(err).split())[:300]})") from None
