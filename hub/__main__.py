"""``python -m hub``: the same command line as ``omnihub``."""

from hub.cli import main

main()
