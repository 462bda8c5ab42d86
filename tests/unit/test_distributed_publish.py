"""``hub.distributed.publish`` without a broker: a fake Celery app whose sends fail as an
unreachable broker makes them fail, a fake clock and sleep, so that the backoff, the bound and
what is said are checked exactly (tests/integration/test_distributed_broker.py has the real
broker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from kombu.exceptions import EncodeError, OperationalError
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from hub.distributed.publish import (
    PUBLISH_RETRY_POLICY,
    BrokerRefused,
    BrokerUnreachable,
    broker_shown,
    is_outage,
    publish,
    wait_ready,
)
from hub.errors import OmnihubError

#: Never registered as a secret: publish must mask it by itself.
PASSWORD = "unregistered-pw-0123456789"
URL = f"redis://:{PASSWORD}@broker.internal:6379/0"


class Clock:
    """A fake monotonic clock, moved on only by the fake sleep (and by ``cost`` per send)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class FakeApp:
    """What ``publish`` uses of a Celery app: the broker URL, the producer's connection check and
    ``send_task``; each attempt pops the next outcome (an exception raised, else sent)."""

    def __init__(self, outcomes: list[BaseException | None], clock: Clock | None = None, cost: float = 0.0) -> None:
        self.conf = SimpleNamespace(broker_url=URL)
        self.outcomes = list(outcomes)
        self.sends: list[dict[str, Any]] = []
        self.clock, self.cost = clock, cost
        self.checks = 0

    @contextlib.contextmanager
    def producer_or_acquire(self) -> Iterator[Any]:
        def ensure_connection(**options: Any) -> None:
            self.checks += 1

        yield SimpleNamespace(connection=SimpleNamespace(ensure_connection=ensure_connection))

    def send_task(self, name: str, **options: Any) -> Any:
        self.sends.append({"name": name, **options})
        if self.clock is not None:
            self.clock.now += self.cost
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return SimpleNamespace(id=options["task_id"])


def refused() -> OperationalError:
    return OperationalError("Error 111 connecting to broker.internal:6379. Connection refused.")


def _publish(app: Any, clock: Clock, give_up_after_s: float = 10.0, **options: Any) -> Any:
    return asyncio.run(
        publish(
            app,
            "omnihub.run_job",
            ["/etc/omnihub.yaml", "stock"],
            queue="omnihub",
            give_up_after_s=give_up_after_s,
            job="stock",
            sleep=clock.sleep,
            clock=clock,
            **options,
        )
    )


def test_a_send_that_goes_through_at_once_waits_for_nothing_and_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    app = FakeApp([])
    caplog.set_level(logging.DEBUG, logger="omnihub.scheduler")
    result = _publish(app, clock)
    (sent,) = app.sends
    assert result.id == sent["task_id"] and clock.slept == [] and app.checks == 1
    assert sent["name"] == "omnihub.run_job" and sent["args"] == ["/etc/omnihub.yaml", "stock"]
    assert sent["queue"] == "omnihub" and sent["retry"] is True and sent["retry_policy"] == PUBLISH_RETRY_POLICY
    assert not [r for r in caplog.records if r.name.startswith("omnihub")]


def test_an_outage_is_waited_out_with_a_doubling_capped_backoff_and_one_task_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    app = FakeApp([refused()] * 7)
    caplog.set_level(logging.INFO, logger="omnihub.scheduler")
    result = _publish(app, clock, give_up_after_s=60.0)
    assert clock.slept == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(app.sends) == 8 and len({s["task_id"] for s in app.sends}) == 1  # a retried send is the same task
    assert result.id == app.sends[0]["task_id"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 7 and all(r.name == "omnihub.scheduler" for r in warnings)
    first = warnings[0].getMessage()
    assert "job stock" in first and "redis://:***@broker.internal:6379/0" in first and "attempt 1" in first, first
    assert "Connection refused" in first and "trying again in 0.25 s" in first, first
    assert "after 8 attempts" in caplog.records[-1].getMessage()
    assert not [r for r in caplog.records if PASSWORD in r.getMessage()]


def test_a_broker_that_stays_down_fails_the_run_at_the_bound(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    app = FakeApp([refused()] * 100)
    caplog.set_level(logging.WARNING, logger="omnihub.scheduler")
    with pytest.raises(BrokerUnreachable) as raised:
        _publish(app, clock, give_up_after_s=10.0)
    # the last wait is cut so that the last attempt is made at the bound, not past it
    assert clock.slept == [0.25, 0.5, 1.0, 2.0, 4.0, 2.25] and clock.now - 1000.0 == 10.0
    assert len(app.sends) == 7
    message = str(raised.value)
    assert isinstance(raised.value, OmnihubError) and not isinstance(raised.value, BrokerRefused)
    assert PASSWORD not in message and "redis://:***@broker.internal:6379/0" in message, message
    assert "job stock" in message and "10 s" in message and "7 attempts" in message and "hub.broker" in message
    assert raised.value.__cause__ is None  # the kombu error is said, not chained (its traceback adds nothing)
    assert len(caplog.records) == 6


def test_the_bound_counts_the_time_the_attempts_take() -> None:
    clock = Clock()
    app = FakeApp([refused()] * 100, clock=clock, cost=1.5)  # each attempt waits for a connect timeout
    with pytest.raises(BrokerUnreachable):
        _publish(app, clock, give_up_after_s=5.0)
    assert clock.now - 1000.0 < 5.0 + 1.5  # at most one attempt past the bound
    assert clock.slept == [0.25, 0.5] and len(app.sends) == 3


def test_a_refused_password_fails_at_once() -> None:
    clock = Clock()
    wrapped = OperationalError("invalid username-password pair")
    wrapped.__cause__ = AuthenticationError("invalid username-password pair or user is disabled.")
    app = FakeApp([wrapped])
    with pytest.raises(BrokerRefused) as raised:
        _publish(app, clock)
    assert clock.slept == [] and len(app.sends) == 1
    assert "refused omnihub's credentials" in str(raised.value) and PASSWORD not in str(raised.value)
    assert isinstance(raised.value, BrokerUnreachable)


def test_an_error_that_is_no_outage_is_the_caller_s_at_once() -> None:
    clock = Clock()
    app = FakeApp([EncodeError("Object of type set is not JSON serializable")])
    with pytest.raises(EncodeError):
        _publish(app, clock)
    assert clock.slept == [] and len(app.sends) == 1


def test_the_result_backend_giving_up_its_reconnect_is_an_outage_too() -> None:
    """Celery's Redis result backend says "must be restarted" with a RuntimeError raised from the
    connection error; the next attempt reconnects, so it is retried like any outage."""
    gave_up = RuntimeError("Retry limit exceeded while trying to reconnect to the Celery result store backend.")
    gave_up.__cause__ = RedisConnectionError("Error 111 connecting to broker.internal:6379. Connection refused.")
    clock = Clock()
    app = FakeApp([gave_up])
    _publish(app, clock)
    assert len(app.sends) == 2 and clock.slept == [0.25]
    assert not is_outage(RuntimeError("something else"))
    assert is_outage(ConnectionRefusedError()) and is_outage(RedisConnectionError("Redis is loading the dataset"))


def test_the_send_runs_in_a_thread_and_the_event_loop_goes_on() -> None:
    class SlowApp(FakeApp):
        def send_task(self, name: str, **options: Any) -> Any:
            self.thread = threading.current_thread()
            time.sleep(0.3)
            return super().send_task(name, **options)

    app = SlowApp([])

    async def scenario() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await publish(app, "omnihub.run_job", [], queue="omnihub", give_up_after_s=1.0)
        ticker.cancel()
        return ticks

    assert asyncio.run(scenario()) >= 10
    assert app.thread is not threading.main_thread()


class FakeResult:
    """An AsyncResult whose ``ready()`` answers the next of ``answers`` (an exception is raised)."""

    def __init__(self, answers: list[bool | BaseException]) -> None:
        self.answers = list(answers)
        self.app = FakeApp([])
        self.id = "task-1"
        self.polls = 0

    def ready(self) -> bool:
        self.polls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _wait(result: FakeResult, clock: Clock, give_up_after_s: float = 10.0) -> None:
    asyncio.run(
        wait_ready(
            result,  # type: ignore[arg-type]
            poll_s=0.5,
            give_up_after_s=give_up_after_s,
            job="stock",
            sleep=clock.sleep,
            clock=clock,
        )
    )


def test_wait_ready_polls_sooner_at_first_then_every_poll_s() -> None:
    clock = Clock()
    result = FakeResult([False] * 8 + [True])
    _wait(result, clock)
    assert clock.slept == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5]


def test_wait_ready_waits_across_a_broker_restart(caplog: pytest.LogCaptureFixture) -> None:
    down = RedisConnectionError("Error 111 connecting to broker.internal:6379. Connection refused.")
    clock = Clock()
    result = FakeResult([False, *[down] * 30, False, True])  # 15 s down: more than one warning
    caplog.set_level(logging.INFO, logger="omnihub.scheduler")
    _wait(result, clock, give_up_after_s=20.0)
    assert result.polls == 33
    said = [r.getMessage() for r in caplog.records]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2, said
    assert "job stock" in said[0] and "task task-1" in said[0] and "redis://:***@broker.internal:6379/0" in said[0]
    assert "still unreachable after 10 s" in said[1] and "answers again after 15.0 s" in said[2], said
    assert not [m for m in said if PASSWORD in m]


def test_wait_ready_gives_up_after_a_continuous_outage_only() -> None:
    down = OperationalError("Error 111 connecting to broker.internal:6379. Connection refused.")
    # two outages of 4 s each, a good poll between them: neither reaches the 5 s bound
    clock = Clock()
    _wait(FakeResult([*[down] * 8, False, *[down] * 8, True]), clock, give_up_after_s=5.0)
    # one outage of more than 5 s: given up, saying the task may still run
    clock = Clock()
    with pytest.raises(BrokerUnreachable) as raised:
        _wait(FakeResult([False, *[down] * 100]), clock, give_up_after_s=5.0)
    message = str(raised.value)
    assert "unreachable for 5 s" in message and "task task-1" in message and "may still run" in message, message
    assert PASSWORD not in message


def test_wait_ready_leaves_other_errors_to_the_caller() -> None:
    with pytest.raises(KeyError):
        _wait(FakeResult([False, KeyError("status")]), Clock())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (URL, "redis://:***@broker.internal:6379/0"),
        (f"amqp://omnihub:{PASSWORD}@mq:5672/prod", "amqp://omnihub:***@mq:5672/prod"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (
            f"amqp://u:{PASSWORD}@mq1//;amqp://u:{PASSWORD}@mq2//",
            "amqp://u:***@mq1//;amqp://u:***@mq2//",
        ),
    ],
)
def test_the_broker_is_named_without_its_password(url: str, shown: str) -> None:
    app = FakeApp([])
    app.conf.broker_url = url
    assert broker_shown(app) == shown  # type: ignore[arg-type]
