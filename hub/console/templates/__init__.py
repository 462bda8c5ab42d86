"""The console's Jinja2 templates (package data)."""
