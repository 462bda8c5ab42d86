"""The web console: the jobs, runs, mismatches, quarantine, connectors and reservations on a page, and "run now"."""
