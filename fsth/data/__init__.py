"""Data: video and image I/O, face crops, the clip format, preprocessing, sample media."""
from ..io.clips import Clip, ClipError, list_clips, load_clip, read_meta, save_clip

__all__ = ["Clip", "ClipError", "list_clips", "load_clip", "read_meta", "save_clip"]
