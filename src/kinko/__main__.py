"""``python -m kinko`` runs the command line."""

import sys

from kinko.cli import main

sys.exit(main())
