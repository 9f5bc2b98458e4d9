"""``python -m fsth.course grade NOTEBOOK…``: see :mod:`fsth.course.grade`."""
import sys

from .grade import main

sys.exit(main())
