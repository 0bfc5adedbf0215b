"""``python -m echomark`` runs the command-line interface."""

import sys

from echomark.cli.main import main

sys.exit(main())
