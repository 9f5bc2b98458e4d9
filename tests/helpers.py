"""Small shared test helpers (plain values and functions; fixtures live in conftest.py)."""
import numpy as np

SMALL_MODEL = {"image_size": 32, "channels": 8, "max_channels": 32, "embed_dim": 32,
               "generator_downs": 2, "generator_res_blocks": 1, "attention_size": 8}


def face_points(size=256):
    """A plausible 68-point face centred in a ``size`` image (from an ellipse layout)."""
    t = np.linspace(np.pi, 2 * np.pi, 17)
    jaw = np.stack([0.5 + 0.35 * np.cos(t + np.pi), 0.45 - 0.4 * np.sin(t + np.pi)], 1)[::-1]
    brows = np.stack([np.linspace(0.25, 0.45, 5), np.full(5, 0.35)], 1)
    brows = np.concatenate([brows, brows * [-1, 1] + [1, 0]])
    nose = np.concatenate([np.stack([np.full(4, 0.5), np.linspace(0.4, 0.58, 4)], 1),
                           np.stack([np.linspace(0.44, 0.56, 5), np.full(5, 0.6)], 1)])
    angles = np.linspace(0, 2 * np.pi, 7)[:-1]
    eye = np.stack([0.06 * np.cos(angles), 0.025 * np.sin(angles)], 1)
    eyes = np.concatenate([eye + [0.36, 0.42], eye + [0.64, 0.42]])
    a12, a8 = np.linspace(0, 2 * np.pi, 13)[:-1], np.linspace(0, 2 * np.pi, 9)[:-1]
    lips = np.concatenate([np.stack([0.5 - 0.12 * np.cos(a12), 0.72 + 0.04 * np.sin(a12)], 1),
                           np.stack([0.5 - 0.08 * np.cos(a8), 0.72 + 0.015 * np.sin(a8)], 1)])
    return (np.concatenate([jaw, brows, nose, eyes, lips]) * size).astype(np.float32)


def ibug_face_points(size=256):
    """:func:`face_points` with eyes and lips in iBUG's order, upper lid and upper inner lip first
    (face_points draws them mirrored, which a warp doesn't mind but lid and lip gaps do)."""
    points = face_points(size)
    for part in (slice(36, 42), slice(42, 48), slice(48, 60), slice(60, 68)):
        centre = points[part, 1].mean()
        points[part, 1] = 2 * centre - points[part, 1]
    return points


def run_cli(capsys, argv, entry=None):
    """Exit code and the one error line of a command (``entry``, default ``fsth.cli.main``):
    never a traceback."""
    if entry is None:
        from fsth.cli import main as entry
    code = entry(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert "Traceback" not in err and len(lines) == 1, err
    return code, lines[0]
