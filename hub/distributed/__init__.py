"""The distributed engine: runs enqueued on a Celery broker and run by ``omnihub worker`` processes.

``app`` builds the Celery app from a loaded config (``hub.broker``), ``tasks`` is what a worker
does with a run (the same ``Engine.run_job`` as in process), ``enqueue`` is the daemon's side:
a ``run_job`` that enqueues the run and waits for its report. Celery is imported only here, so
the in-process default needs none of it (``pip install 'omnihub[distributed]'`` brings it).
"""
