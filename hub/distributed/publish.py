"""Sending a task to the broker, and waiting for its answer, across a broker restart or outage.

A broker that restarts (an upgrade, a failover, a crash) must not cost a scheduled run, and one
that is gone for good must fail the run saying so instead of hanging the scheduler. So:

- ``publish`` sends the task in a thread (the event loop keeps serving the other jobs, the health
  endpoint and the webhooks) and, while the broker cannot be reached, tries again with a capped
  exponential backoff, a warning per failed attempt naming the job and the broker (its password
  masked). Each attempt is one ``send_task`` with a short Celery publish ``retry_policy`` (kombu
  reconnects and revives the producer within it); the waits between attempts are ours, so that
  the whole effort is bounded by ``give_up_after_s`` and then raises ``BrokerUnreachable``.
  Every attempt carries the same task id: should a send that failed have reached the broker after
  all, the copy has the same id and result, and a second delivery of a run is safe anyway (the
  job lock and the outbox, ``hub.distributed.app``).
- ``wait_ready`` polls the result (on Redis, the result backend is the broker itself) and takes a
  connection error for "not ready yet" during an outage of up to ``give_up_after_s``: the queued
  task and its result survive a broker that keeps them on disk (Redis with AOF, a durable
  RabbitMQ queue), so waiting across the restart is what loses nothing.

Before each send, the producer's pooled connection is checked (a no-op while it is up): Celery's
Redis result backend subscribes to the task's result channel before publishing, and when that
first subscription finds the server down it retries for about 20 s in the calling thread, which
no asyncio timeout can cut short. Checking first makes an attempt against a down broker fail in
milliseconds instead.

What is left to Celery: a worker reconnects by itself when the broker comes back
(``broker_connection_retry``: waits of 2, 4, 6... s up to 30 s between its attempts, so a run
queued during a long outage reaches a worker up to 30 s after the broker is back).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from hub.errors import OmnihubError
from hub.redact import MASK, redact

__all__ = [
    "BACKOFF_FIRST_S",
    "BACKOFF_MAX_S",
    "GIVE_UP_AFTER_S",
    "PUBLISH_RETRY_POLICY",
    "BrokerRefused",
    "BrokerUnreachable",
    "broker_shown",
    "is_outage",
    "publish",
    "wait_ready",
]

log = logging.getLogger("omnihub.scheduler")

#: How long a broker may stay unreachable before the run that needs it fails (the recommended
#: default of the setting the integrator wires): longer than a broker's restart or failover,
#: shorter than the gap between two runs of a frequent job.
GIVE_UP_AFTER_S = 300.0
#: The first wait between two attempts to send; it doubles after each failure...
BACKOFF_FIRST_S = 0.25
#: ...up to this: a broker that comes back is used again within this many seconds.
BACKOFF_MAX_S = 5.0
#: Celery's own retrying within one attempt (kombu reconnects and revives the producer between
#: its tries): short, so that our backoff and bound decide how long a send may take.
PUBLISH_RETRY_POLICY: dict[str, float] = {
    "max_retries": 2,
    "interval_start": 0.0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
#: During an outage, a warning from ``wait_ready`` at its start, then at most this often.
OUTAGE_WARN_EVERY_S = 10.0

try:  # the Redis client is there with the Redis transport; AMQP brokers do without it
    from redis.exceptions import AuthenticationError as _RedisAuth
    from redis.exceptions import ConnectionError as _RedisConnection
    from redis.exceptions import TimeoutError as _RedisTimeout

    _REDIS_OUTAGE: tuple[type[BaseException], ...] = (_RedisConnection, _RedisTimeout)
    _REDIS_REFUSED: tuple[type[BaseException], ...] = (_RedisAuth,)
except ImportError:  # pragma: no cover - the distributed extra brings redis
    _REDIS_OUTAGE, _REDIS_REFUSED = (), ()

try:
    from amqp.exceptions import AccessRefused as _AmqpRefused

    _AMQP_REFUSED: tuple[type[BaseException], ...] = (_AmqpRefused,)
except ImportError:  # pragma: no cover - kombu depends on amqp
    _AMQP_REFUSED = ()

#: What a broker that cannot be reached right now raises (kombu wraps most of it as
#: ``OperationalError``; a refused or reset socket, a name that does not resolve yet and Redis
#: still loading its AOF after a restart are outages too).
_OUTAGE: tuple[type[BaseException], ...] = (OperationalError, OSError, *_REDIS_OUTAGE)
#: What a broker that answers but refuses omnihub raises: trying again will not help.
_REFUSED: tuple[type[BaseException], ...] = (*_REDIS_REFUSED, *_AMQP_REFUSED)


class BrokerUnreachable(OmnihubError):
    """The broker of the distributed engine could not be reached for longer than the scheduler
    waits (``give_up_after_s``): the run fails with what to do, instead of hanging."""


class BrokerRefused(BrokerUnreachable):
    """The broker answered but refused omnihub (wrong password or user): fails at once, since
    waiting will not change it."""


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or during, outermost first (kombu and Celery wrap the
    client's error)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_refusal(exc: BaseException) -> bool:
    return any(isinstance(e, _REFUSED) for e in _causes(exc))


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the broker (or the result backend on it) cannot be reached right now.

    Celery's Redis result backend gives up reconnecting with a ``RuntimeError`` ("The Celery
    application must be restarted") raised from the connection error: that is an outage too (the
    next attempt reconnects). A refusal of the credentials is not."""
    if _is_refusal(exc):
        return False
    return any(isinstance(e, _OUTAGE) for e in _causes(exc))


def broker_shown(app: Celery) -> str:
    """The app's broker URL fit for a log or an error: every password replaced by ``***`` (each
    URL of a failover list), then ``redact`` for any other registered secret. (``redact`` alone
    would mask the whole URL, which the config registers as a secret, and say nothing.)"""
    url = str(app.conf.broker_url or "")
    shown = []
    for one in url.split(";"):
        parts = urlsplit(one.strip())
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            host = netloc.rsplit("@", 1)[1]
            netloc = f"{user}:{MASK}@{host}"
        shown.append(urlunsplit(parts._replace(netloc=netloc)))
    return redact(";".join(shown))


def _said(exc: BaseException, app: Celery) -> str:
    """What went wrong, for a log or an error, without the broker's password."""
    text = f"{type(exc).__name__}: {exc}"
    password = urlsplit(str(app.conf.broker_url or "").split(";")[0]).password
    if password:
        text = text.replace(password, MASK)
    return redact(text)


def _for(job: str | None) -> str:
    return f"job {job}" if job else "a task"


def _send(app: Celery, task: str, args: list[Any], queue: str, task_id: str) -> AsyncResult:
    """One attempt, in a worker thread: check the producer's connection (see the module's
    docstring), then send with Celery's short retry policy."""
    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2)
    result: AsyncResult = app.send_task(
        task, args=args, queue=queue, task_id=task_id, retry=True, retry_policy=dict(PUBLISH_RETRY_POLICY)
    )
    return result


async def publish(
    app: Celery,
    task: str,
    args: list[Any],
    *,
    queue: str,
    give_up_after_s: float,
    job: str | None = None,
    backoff_first_s: float = BACKOFF_FIRST_S,
    backoff_max_s: float = BACKOFF_MAX_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncResult:
    """Send ``task`` with ``args`` to ``queue``; its result.

    While the broker cannot be reached, tries again after waits doubling from ``backoff_first_s``
    up to ``backoff_max_s`` (a warning each time); the last attempt is made at ``give_up_after_s``
    from the first one, then ``BrokerUnreachable``. A broker refusing the credentials raises
    ``BrokerRefused`` at once; any other error is the caller's. ``sleep`` and ``clock`` are the
    event loop's (tests pass fakes)."""
    task_id = str(uuid.uuid4())
    started = clock()
    attempts = 0

    def wait(state: RetryCallState) -> float:
        backoff = min(backoff_max_s, backoff_first_s * 2 ** (state.attempt_number - 1))
        return max(0.0, min(backoff, started + give_up_after_s - clock()))

    def out_of_time(state: RetryCallState) -> bool:
        return clock() - started >= give_up_after_s

    def warn(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        assert exc is not None
        pause = state.upcoming_sleep
        log.warning(
            "%s: the broker %s cannot be reached (attempt %d, %.0f s so far; %s); trying again in %g s",
            _for(job),
            broker_shown(app),
            state.attempt_number,
            clock() - started,
            _said(exc, app),
            round(pause, 2),
            extra={"job": job} if job else {},
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_outage),
        stop=out_of_time,
        wait=wait,
        sleep=sleep,
        before_sleep=warn,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                attempts += 1
                result = await asyncio.to_thread(_send, app, task, list(args), queue, task_id)
    except Exception as exc:
        if _is_refusal(exc):
            raise BrokerRefused(
                f"{_for(job)}: the broker {broker_shown(app)} refused omnihub's credentials "
                f"({_said(exc, app)}); nothing was enqueued. Fix the user or password of hub.broker."
            ) from None
        if is_outage(exc):
            raise BrokerUnreachable(
                f"{_for(job)}: the broker {broker_shown(app)} could not be reached for "
                f"{clock() - started:.0f} s ({attempts} attempts; last: {_said(exc, app)}): task {task} was "
                "not enqueued and the run fails. Check that the broker is running and reachable from the "
                "scheduler (hub.broker); the job runs again at its next schedule."
            ) from None
        raise
    if attempts > 1:
        log.info(
            "%s: enqueued on the broker %s after %d attempts (%.1f s)",
            _for(job),
            broker_shown(app),
            attempts,
            clock() - started,
            extra={"job": job} if job else {},
        )
    return result


async def wait_ready(
    result: AsyncResult,
    *,
    poll_s: float,
    give_up_after_s: float,
    job: str | None = None,
    first_poll_s: float = 0.01,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once ``result`` is ready (its worker answered), polling in a thread: first after
    ``first_poll_s``, the pause doubling up to ``poll_s``.

    A connection error while polling is an outage of the broker (its result backend): "not ready
    yet", with a warning at its start and every ``OUTAGE_WARN_EVERY_S`` after; once the broker
    answers again, polling goes on. An outage longer than ``give_up_after_s`` without a break
    raises ``BrokerUnreachable``. Waiting for a slow run has no bound here: the caller's
    timeout, if any, decides."""
    app = result.app
    pause = min(first_poll_s, poll_s)
    down_since: float | None = None
    warned_at = 0.0
    while True:
        try:
            ready = await asyncio.to_thread(result.ready)
        except Exception as exc:
            if not is_outage(exc):
                raise
            now = clock()
            if down_since is None:
                down_since, warned_at = now, now
                log.warning(
                    "%s: the broker %s cannot be reached while waiting for task %s (%s); still waiting, up to %.0f s",
                    _for(job),
                    broker_shown(app),
                    result.id,
                    _said(exc, app),
                    give_up_after_s,
                    extra={"job": job} if job else {},
                )
            elif now - down_since >= give_up_after_s:
                raise BrokerUnreachable(
                    f"{_for(job)}: the broker {broker_shown(app)} has been unreachable for {now - down_since:.0f} s "
                    f"while waiting for task {result.id} (last: {_said(exc, app)}); its outcome is unknown. "
                    "A worker may still run it once the broker is back; check the broker (hub.broker) and "
                    "`omnihub runs` for the job's runs."
                ) from None
            elif now - warned_at >= OUTAGE_WARN_EVERY_S:
                warned_at = now
                log.warning(
                    "%s: the broker %s is still unreachable after %.0f s (task %s)",
                    _for(job),
                    broker_shown(app),
                    now - down_since,
                    result.id,
                    extra={"job": job} if job else {},
                )
            await sleep(poll_s)
            continue
        if down_since is not None:
            log.info(
                "%s: the broker %s answers again after %.1f s; waiting for task %s goes on",
                _for(job),
                broker_shown(app),
                clock() - down_since,
                result.id,
                extra={"job": job} if job else {},
            )
            down_since = None
        if ready:
            return
        await sleep(pause)
        pause = min(poll_s, pause * 2)
