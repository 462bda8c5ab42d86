"""Run member writes as one ``/batches`` job and read back each operation's answer.

Mailchimp runs a job's operations on its own time: the job is started, its status read until it
is ``finished`` (the wait between reads grows by half each time, up to ``timeout_s`` in all), and
its results archive fetched: a gzipped tar of JSON files, each an array of
``{status_code, operation_id, response}`` with ``response`` the operation's answer as a string.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.sdk import RetriableError

from .client import MailchimpClient

__all__ = ["Outcome", "read_archive", "run_job"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One operation's answer: its HTTP status and its body (``None`` when empty or not JSON)."""

    status: int
    body: Any


async def run_job(
    client: MailchimpClient,
    operations: Sequence[Mapping[str, Any]],
    *,
    poll_s: float,
    timeout_s: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, Outcome]:
    """Each operation's answer by ``operation_id``, once the job finished.

    Raises ``RetriableError`` when the job does not finish within ``timeout_s`` or finishes without
    a readable archive: its operations are absolute writes, so the next run may send them again.
    """
    job = await client.start_batch(operations)
    deadline = time.monotonic() + timeout_s
    wait = poll_s
    while job.get("status") != "finished":
        if time.monotonic() > deadline:
            raise RetriableError(
                f"Mailchimp batch job {job.get('id')} is still {job.get('status')} after {timeout_s:.0f}s "
                "(setting `batch_timeout_s`); its changes are sent again next run",
                connector=client.connector,
            )
        await sleep(wait)
        wait = min(wait * 1.5, 10.0)
        job = await client.batch_job(str(job["id"]))
    url = job.get("response_body_url")
    if not url:
        raise RetriableError(
            f"Mailchimp batch job {job['id']} finished without a results archive", connector=client.connector
        )
    try:
        return read_archive(await client.download(str(url)))
    except ValueError as exc:
        raise RetriableError(f"Mailchimp batch job {job['id']}: {exc}", connector=client.connector) from None


def read_archive(data: bytes) -> dict[str, Outcome]:
    """The operations' answers in a results archive, by ``operation_id``; ``ValueError`` when unreadable."""
    outcomes: dict[str, Outcome] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for entry in tar:
                handle = tar.extractfile(entry) if entry.isfile() and entry.name.endswith(".json") else None
                if handle is None:
                    continue
                for result in json.loads(handle.read()):
                    if isinstance(result, Mapping) and result.get("operation_id") is not None:
                        outcomes[str(result["operation_id"])] = Outcome(int(result["status_code"]), _body(result))
    except (tarfile.TarError, OSError, EOFError, TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"the results archive cannot be read ({type(exc).__name__})") from None
    return outcomes


def _body(result: Mapping[str, Any]) -> Any:
    try:
        return json.loads(result.get("response") or "null")
    except (TypeError, ValueError):
        return None
