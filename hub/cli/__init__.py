"""The ``omnihub`` command line and its demo."""
