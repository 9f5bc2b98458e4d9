"""The course's checks and helpers, kept importable as ``fsth.exercises`` for existing notebooks.

They live in :mod:`fsth.course` (one module per group of lessons); see its docstring.
"""
from .course import *  # noqa: F401,F403
from .course import __all__  # noqa: F401
