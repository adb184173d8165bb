"""``python -m pyapi`` runs the ``memcore`` command line."""
import sys

from pyapi.cli import main

sys.exit(main())
