"""Jinja2 templates of the alert digest (a package so that ``pip install .`` ships the ``*.j2`` files)."""
