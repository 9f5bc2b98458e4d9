"""What a notebook imports: every self-check (``check_*``) and helper of the course, in one namespace.

``from fsth.exercises import check_adain, show`` in every notebook of ``notebooks/``. The code lives
in :mod:`fsth.course` (one module per group of lessons, plus the course's data and plumbing); this
module re-exports its ``__all__`` so a lesson never needs to know which module holds a check.
"""
from .course import *  # noqa: F401,F403
from .course import __all__  # noqa: F401
