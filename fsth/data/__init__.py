"""Data: video and image I/O, face crops, the clip format, preprocessing, sample media."""
from .clips import Clip, list_clips, load_clip, read_meta, save_clip

__all__ = ["Clip", "list_clips", "load_clip", "read_meta", "save_clip"]
