"""The Celery app of the distributed engine, built from a loaded config.

Delivery is at least once: a task is acknowledged only once its run is over (``task_acks_late``)
and given back when its worker process is lost (``task_reject_on_worker_lost``), and a worker
takes one task at a time (``worker_prefetch_multiplier=1``), so a killed worker holds no other
task hostage. What makes a second delivery of the same run safe is not Celery: the job lock
(``hub.state.job_locks``) keeps two runs of a job apart, and the outbox (``hub.sync.push``) has a
run that died superseded by the next one, which decides again from a fresh pull.
"""

from __future__ import annotations

from celery import Celery

from hub.config.loader import LoadedConfig
from hub.errors import ConfigError

__all__ = ["QUEUE", "REDELIVER_AFTER_S", "STEPS", "TASK", "celery_app"]

#: The queue the daemon enqueues on and ``omnihub worker`` consumes by default.
QUEUE = "omnihub"
#: The task's name on the wire (what a worker of another version must still understand): a whole
#: run in one task (``hub.distributed.tasks``).
TASK = "omnihub.run_job"
#: The steps of a run split across the workers (``hub.distributed.steps``), by their names on the wire.
STEPS = {
    "orders": "omnihub.pull_orders",
    "pull": "omnihub.pull",
    "partition": "omnihub.decide_partition",
    "settle": "omnihub.settle_run",
}
#: How long a task taken by a worker that vanished (SIGKILL, a lost host) stays unacknowledged
#: before the broker gives it to another worker (Redis: the visibility timeout). It must be longer
#: than the longest run: a run still going at that point is delivered again, and the copy waits for
#: the job lock (``hub.job_lock_wait``), then fails saying who holds it.
REDELIVER_AFTER_S = 3600.0


def celery_app(config: LoadedConfig, *, redeliver_after_s: float = REDELIVER_AFTER_S) -> Celery:
    """The Celery app for ``config``: broker ``hub.broker``, results on the broker itself (the
    daemon waits for each run's report there), JSON only on the wire."""
    if config.hub.broker is None:
        raise ConfigError(
            config.located.problem(("hub",), 'the distributed engine needs hub.broker: "${OMNIHUB_BROKER_URL}"')
        )
    broker = config.hub.broker.get_secret_value()
    # Redis keeps results as keys of the broker's database; AMQP answers on the broker (rpc://).
    backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
    app = Celery("omnihub", broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=QUEUE,
        task_track_started=True,
        result_expires=86400,
        broker_connection_retry_on_startup=True,
        # a worker waits for a broker that is away however long (the default gives up after ~46 min)
        broker_connection_max_retries=None,
        # the result backend's first subscription gives up in about a second, not twenty, when the
        # broker is down: ``hub.distributed.publish`` then tries again within its own bound
        result_backend_transport_options={
            "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
        },
        # omnihub's own logging (text or JSON, secrets masked) stays in place
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_transport_options={
            "visibility_timeout": redeliver_after_s,
            # look for abandoned tasks often enough for a short redelivery delay
            "unacked_restore_interval": max(1.0, min(10.0, redeliver_after_s / 4)),
            "unacked_restore_throttle": 1,
        },
    )
    from hub.distributed import steps
    from hub.distributed.tasks import run_job

    late = {"acks_late": True, "reject_on_worker_lost": True}
    app.task(name=TASK, **late)(run_job)
    app.task(name=STEPS["orders"], **late)(steps.pull_orders)
    app.task(name=STEPS["pull"], **late)(steps.pull_connector)
    app.task(name=STEPS["partition"], **late)(steps.decide_partition)
    app.task(name=STEPS["settle"], **late)(steps.settle_run)
    return app
