"""The ground floor (docs/architecture.md): files and formats — images, video, clips, crops,
checkpoints, tensors ⇄ uint8 — and the one atomic-write helper. Nothing here imports from
the rest of fsth."""
from .atomic import WriteError, atomic_path, atomic_write, atomic_write_text, save_figure, stale_temps, sweep_stale_temps

__all__ = ["WriteError", "atomic_path", "atomic_write", "atomic_write_text", "save_figure", "stale_temps",
           "sweep_stale_temps"]
