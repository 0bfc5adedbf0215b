"""``python -m echomark`` runs the command-line interface."""

import sys

from echomark.cli.main import main

# Guarded: process pools that spawn (Dask's nannies) import the main module again.
if __name__ == "__main__":
    sys.exit(main())
