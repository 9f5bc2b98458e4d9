"""What each ``fsth`` command takes, as dataclasses: the command line is derived from them
(``fsth.flags``), so a new option is one field with its help, and the words mean the same in
every command: ``--ft-steps`` fine-tuning steps, ``--steps`` meta-learning steps (train only),
``--k`` shots, ``--out`` what is written, ``--backend`` the landmark detector, ``--amp`` precision.

No torch here: ``fsth --help`` and the parsers load none.
"""
from __future__ import annotations

from dataclasses import dataclass

from .flags import at_least, between, option, suffix

BACKENDS = ("auto", "dlib", "fan")
AMP = ("auto", "none", "bf16", "fp16")  # fsth.hardware.AMP_CHOICES (tests/test_cli.py checks they agree)
AMP_HELP = "precision: auto (bf16 where the hardware has it natively, else fp32), none (fp32), bf16, fp16 (CUDA)"
CROP_MARGIN = 0.7  # fsth.io.crop.CROP_MARGIN (checked by the same test)


@dataclass(frozen=True)
class DemoOptions:
    out: str = option("fsth-demo", "folder for the video, gif, strip and summary.json")
    portrait: str = option("monalisa", "a sample portrait's name (fsth samples list)")
    driving: str = option("wolfgang", "a sample video's name")
    seconds: float = option(6.0, "length of the driving excerpt in seconds", check=(lambda v: v > 0, "more than 0"))
    ft_steps: int = option(25, "fine-tuning steps on the one shot (the warping model's output barely changes "
                           "after 25: more cost time, not quality)", check=at_least(0))
    size: int = option(256, "side of the rendered frames in pixels", check=between(16, 512))
    amp: str = option("auto", AMP_HELP, choices=AMP)


@dataclass(frozen=True)
class CredentialsOptions:
    files: tuple[str, ...] = option((), "images or videos whose Content Credentials (C2PA) to read and validate",
                                    positional=True)


@dataclass(frozen=True)
class LandmarksOptions:
    input: str = option("", "image, video file, or folder of frames", positional=True)
    backend: str = option("auto", "landmark detector", choices=BACKENDS)
    out: str = option("", "write the points to points.npy (array) or points.json")
    overlay: str = option("", "overlay.png (first frame) or overlay.mp4/.gif (all frames)")


@dataclass(frozen=True)
class PreprocessOptions:
    src: str = option("", "VoxCeleb-style tree, folder of videos, or folder of images", positional=True)
    out: str = option("", "output dataset folder", positional=True)
    size: int = option(256, "crop side in pixels (64, 128, 256, ...)", check=between(16, 4096))
    frames: int = option(32, "frames sampled per video (0: all)", check=at_least(0))
    workers: int = option(1, "parallel processes", check=at_least(1))
    backend: str = option("auto", "landmark detector", choices=BACKENDS)
    margin: float = option(CROP_MARGIN, "crop margin around the landmarks", check=between(0, 5))
    quality: int = option(95, "JPEG quality of stored frames", check=between(1, 100))


@dataclass(frozen=True)
class SamplesOptions:
    action: str = option("list", "list the samples, or fetch them into the cache", positional=True,
                         choices=("list", "fetch"))
    names: tuple[str, ...] = option((), "samples to fetch (default: all course media)", positional=True)
    out: str = option("", "also copy the fetched videos and portraits into this folder")
    tests: bool = option(False, "include test fixtures (no face, several faces)")


@dataclass(frozen=True)
class SynthOptions:
    out: str = option("", "output dataset folder (OUT/synth00042/clip01.npz, ...)", positional=True)
    identities: int = option(500, "number of synthetic people", check=at_least(1))
    clips_per_identity: int = option(2, "clips (different motion) per person", check=at_least(1))
    frames: int = option(32, "frames per clip (25 fps)", check=at_least(1))
    size: int = option(64, "frame side in pixels (32 to 256)", check=between(32, 256))
    seed: int = option(0, "the dataset's seed: same seed, same pixels", check=at_least(0))
    workers: int = option(1, "parallel processes", check=at_least(1))


@dataclass(frozen=True)
class InspectOptions:
    dataset: str = option("", "folder written by fsth preprocess or fsth synth", positional=True)
    out: str = option("", "contact sheet PNG", check=suffix(".png", ".jpg", ".jpeg"))
    max_clips: int = option(12, "clips on the contact sheet", check=at_least(1))
    frames: int = option(3, "frames per clip", check=at_least(1))
    tile: int = option(128, "tile size in pixels", check=between(16, 1024))
    overlay: bool = option(False, "draw the landmarks on the frames too")


@dataclass(frozen=True)
class PersonOptions:
    """Where a personalised head comes from: a person file, or a model fine-tuned on shots."""
    checkpoint: str = option("", "meta-learned model (training checkpoint; default: the shipped one)")
    shots: tuple[str, ...] = option((), "portrait image(s) of the new person")
    clip: str = option("", "a preprocessed clip to take the shots from")
    k: int = option(8, "shots taken from --clip", check=at_least(1))
    ft_steps: int = option(100, "fine-tuning steps (0: the meta-learned model as it is)", check=at_least(0))
    seed: int = option(0, "random seed of fine-tuning", check=at_least(0))
    backend: str = option("auto", "landmark detector", choices=BACKENDS)
    amp: str = option("auto", AMP_HELP, choices=AMP)
    size: int = option(256, "side of the portrait crops and of the rendered frames, 16 to 512 (the model works "
                       "at its own size and takes the texture from these crops)", check=between(16, 512))


@dataclass(frozen=True)
class FinetuneOptions(PersonOptions):
    out: str = option("", "person file to write (.pt)", required=True, check=suffix(".pt"))


@dataclass(frozen=True)
class AnimateOptions(PersonOptions):
    driving: str = option("", "driving video (or folder of frames)", required=True)
    out: str = option("", "output .mp4", required=True, check=suffix(".mp4"))
    person: str = option("", "person file from fsth finetune (instead of --checkpoint/--shots)")
    method: str = option("model", "model: the (fine-tuned) generator; warp: the portrait's own pixels moved to "
                         "the landmarks; guided-warp: the warp on guard-rails (eyelids close, background stays, "
                         "a painted mouth cavity); mean: the mean shot (baselines, no learning)",
                         choices=("model", "warp", "guided-warp", "mean"))
    gif: str = option("", "also write this .gif", check=suffix(".gif"))
    adapt: str = option("relative", "relative: keep the portrait's face shape; none: driving landmarks as they are",
                        choices=("relative", "none"))
    reference: str = option("0", "driving frame matching the portrait's expression, or 'best'",
                            check=(lambda v: v == "best" or v.isdigit(), "a frame number (0, 1, ...) or 'best'"))
    side_by_side: bool = option(False, "driving | landmarks | result")
    max_frames: int = option(0, "render at most this many frames (0: all)", check=at_least(0))
    watermark: bool = option(False, "also mark every frame in its pixels: a visible 'SYNTHETIC · fsth' label "
                             "and an invisible watermark that survives light re-encoding")
    smooth: str = option("savgol", "smooth the driving landmarks over time against the detector's tremble: "
                         "savgol (Savitzky-Golay over the whole clip: no lag; measured steadier than one-euro on "
                         "the wolfgang clip), one-euro (adaptive low-pass that sees only the past, as a live "
                         "loop must), none (as detected)", choices=("one-euro", "savgol", "none"))
    # the defaults of fsth.landmarks.smooth (tests/test_smooth.py checks they agree)
    smooth_cutoff: float = option(1.0, "one-euro: cutoff in Hz of a still face (lower: steadier but slower)")
    smooth_beta: float = option(5.0, "one-euro: cutoff added per face width per second of motion "
                                "(higher: less lag when the mouth or head moves fast, more tremble)")
    smooth_window: int = option(0, "savgol: window in frames, odd (0: about a quarter second of the clip)")


@dataclass(frozen=True)
class LiveOptions:
    benchmark: str = option("", "replay VIDEO (a file, or a sample's name: wolfgang, single_face) as the camera "
                            "through the live loop, without a browser, and print frames/s and latency per stage "
                            "(without it: serve the live page on this computer)")
    portrait: str = option("monalisa", "the portrait: an image file or a sample portrait's name (fsth samples list)")
    method: str = option("guided-warp", "guided-warp: the portrait's pixels warped on guard-rails; warp: warped "
                         "alone; model: the shipped model personalised on the portrait",
                         choices=("guided-warp", "warp", "model"))
    size: int = option(256, "side of the rendered frames in pixels", check=between(64, 512))
    ft_steps: int = option(0, "model: fine-tuning steps on the portrait before the loop starts (0: feed-forward)",
                           check=at_least(0))
    max_frames: int = option(0, "replay at most this many frames (0: all)", check=at_least(0))
    json: str = option("", "also write the figures to this .json file", check=suffix(".json"))
    port: int = option(8765, "the page's port on 127.0.0.1 (0: any free port)", check=between(0, 65535))
    out: str = option("fsth-live", "folder for the page's recordings (marked mp4s)")


@dataclass(frozen=True)
class EvaluateOptions:
    checkpoint: str = option("", "training checkpoint to evaluate", required=True)
    data: str = option("", "clips; the checkpoint's held-out identities are used if it has any", required=True)
    out: str = option("eval", "folder for table.md, results.json, plots")
    ks: tuple[int, ...] = option((1, 8, 32), "shot counts K to evaluate", check=at_least(1))
    ft_steps: int = option(100, "fine-tuning steps of the FT variant", check=at_least(0))
    targets: int = option(8, "evaluated frames per clip", check=at_least(1))
    max_clips: int = option(0, "evaluate at most this many clips (0: all)", check=at_least(0))
    seed: int = option(0, "random seed of shots and fine-tuning", check=at_least(0))
    untrained: bool = option(False, "also score an untrained model (baseline)")
    all_identities: bool = option(False, "ignore the checkpoint's hold-out list")
    no_landmarks: bool = option(False, "skip the landmark error (no detector)")
    raw_weights: bool = option(False, "use G's trained weights, not their moving average")
    warp_hard: int = option(0, "also measure where a warp of one shot must fail (open mouth, blink, turn) on this "
                            "many held-out SynthHeads identities: warp_hard.md / .json (0: skip)")
    warp_hard_size: int = option(0, "render those pairs at this size (0: the model's own; 256: as fsth animate "
                                 "renders, texture from the full-resolution shot)", check=at_least(0))
