"""``/batches``: many operations in one request, run later, their results kept in a gzipped tar archive.

As Mailchimp documents it: ``POST /batches`` takes ``{operations: [{method, path, params?, body?,
operation_id?}]}`` (``body`` a string of JSON) and answers at once with the job ``pending``;
``GET /batches/{batch_id}`` says how far it got; once ``finished`` its ``response_body_url`` names a
``.tar.gz`` of JSON files, each an array of ``{status_code, operation_id, response}`` with
``response`` the operation's answer as a string. The operations run after ``batch_delay_s``
against the same audience code as direct requests; this sandbox runs the member writes a sync
uses (batch subscribe, member ``PUT``, member tags) and answers any other operation 404.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
from collections.abc import Callable
from typing import Any

from .audience import MailchimpState, iso
from .problems import Answer, body_refusal, problem

__all__ = ["archive", "run", "start", "status"]

#: Results per JSON file of an archive (Mailchimp splits large results over several files).
RESULTS_PER_FILE = 250

_Write = Callable[[MailchimpState, re.Match[str], Any], Answer]
_ROUTES: list[tuple[str, re.Pattern[str], _Write]] = [
    ("POST", re.compile(r"lists/([^/]+)"), lambda s, m, body: s.batch_subscribe(m[1], body)),
    ("PUT", re.compile(r"lists/([^/]+)/members/([^/]+)"), lambda s, m, body: s.put_member(m[1], m[2], body)),
    ("POST", re.compile(r"lists/([^/]+)/members/([^/]+)/tags"), lambda s, m, body: s.tag_member(m[1], m[2], body)),
]


def start(state: MailchimpState, payload: Any) -> Answer:
    """``POST /batches``: the job, pending (the caller schedules ``run``)."""
    refusal = body_refusal("batches", "POST", "/batches", payload)
    if refusal is not None:
        return refusal
    job_id = uuid.uuid4().hex[:10]
    state.jobs[job_id] = {
        "id": job_id,
        "status": "pending",
        "total_operations": len(payload["operations"]),
        "finished_operations": 0,
        "errored_operations": 0,
        "submitted_at": iso(state.now()),
        "completed_at": "",
        "response_body_url": "",
        "_operations": payload["operations"],
    }
    return status(state, job_id)


def run(state: MailchimpState, job_id: str, results_url: str) -> None:
    """Run a job's operations in order and keep their results as the archive ``results_url`` serves."""
    job = state.jobs[job_id]
    job["status"] = "started"
    results = []
    for operation in job.pop("_operations"):
        code, body = _run_one(state, operation)
        results.append(
            {
                "status_code": code,
                "operation_id": operation.get("operation_id"),
                "response": json.dumps(body) if body is not None else "",
            }
        )
    job["_archive"] = _tar_gz(job_id, results)
    job.update(
        status="finished",
        finished_operations=len(results),
        errored_operations=sum(1 for r in results if r["status_code"] >= 400),
        completed_at=iso(state.now()),
        response_body_url=results_url,
    )


def status(state: MailchimpState, job_id: str) -> Answer:
    """``GET /batches/{batch_id}``."""
    job = state.jobs.get(job_id)
    if job is None:
        return problem(404, "Resource Not Found", "The requested resource could not be found.")
    return 200, {k: v for k, v in job.items() if not k.startswith("_")} | {"_links": []}


def archive(state: MailchimpState, job_id: str) -> bytes | None:
    """A finished job's results archive (``None`` before it finished or for an unknown job)."""
    job = state.jobs.get(job_id)
    return job.get("_archive") if job else None


def _run_one(state: MailchimpState, operation: dict[str, Any]) -> Answer:
    path = str(operation["path"]).strip("/").removeprefix("3.0/")
    try:
        body = json.loads(operation["body"]) if operation.get("body") else None
    except ValueError:
        return problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
    for method, pattern, write in _ROUTES:
        match = pattern.fullmatch(path)
        if match and operation["method"] == method:
            return write(state, match, body)
    return problem(404, "Resource Not Found", f"This sandbox does not run {operation['method']} {path} in a batch.")


def _tar_gz(job_id: str, results: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for number, start in enumerate(range(0, max(len(results), 1), RESULTS_PER_FILE)):
            data = json.dumps(results[start : start + RESULTS_PER_FILE]).encode()
            info = tarfile.TarInfo(f"{job_id}/{number}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
