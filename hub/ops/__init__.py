"""Unattended operation: schedule, daemon, alert digest, metrics and logging."""
