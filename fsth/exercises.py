"""What a notebook imports: every self-check (``check_*``) and helper of the course, in one namespace.

``from fsth.exercises import check_adain, show`` in every notebook of ``notebooks/``. The code lives
in :mod:`fsth.course` (one module per group of lessons, plus the course's data and plumbing); this
module re-exports its ``__all__`` so a lesson never needs to know which module holds a check.

``STRICT = True`` here (or ``FSTH_STRICT=1`` in the environment) makes a failing check raise
AssertionError after it prints why, for graders that score cells by whether they raise (nbgrader).
"""
from .course import *  # noqa: F401,F403
from .course import __all__  # noqa: F401

STRICT = False  # True (or FSTH_STRICT=1 in the environment): a failing check raises AssertionError — nbgrader's
#                 autograde then gives its cell 0 points, as it does for any cell that raises
