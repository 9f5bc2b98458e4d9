"""Data: preprocessing, sample media, SynthHeads. The clip format lives on the ground floor
(``fsth.io.clips``) and is re-exported here for convenience."""
from ..io.clips import Clip, ClipError, list_clips, load_clip, read_meta, save_clip

__all__ = ["Clip", "ClipError", "list_clips", "load_clip", "read_meta", "save_clip"]
