"""``python -m hub``: the same command line as ``omnihub``."""

from hub.cli.app import main

main()
