"""Small file-system helpers with no dependency on the rest of fsth."""
from .atomic import atomic_path, atomic_write, stale_temps, sweep_stale_temps

__all__ = ["atomic_path", "atomic_write", "stale_temps", "sweep_stale_temps"]
