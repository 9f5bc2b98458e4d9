"""``python -m fsth ...`` runs the ``fsth`` command (and works under torchrun)."""
import sys

from .cli import main

sys.exit(main())
