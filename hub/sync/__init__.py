"""One sync run: pull, decide (the pure reconciler) and push, and what a run reports."""
