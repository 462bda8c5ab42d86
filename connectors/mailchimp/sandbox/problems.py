"""Mailchimp's error documents, and request bodies held to the published spec.

Every Mailchimp error is an ``application/problem+json`` Problem Detail Document
(``{type, title, status, detail, instance}``, ``errors`` added when fields are at fault), as the
spec's ``default`` responses and Mailchimp's error glossary describe. A body the spec does not
allow (an undocumented field, a required one missing, a wrong type or enum value) is refused as
``400 Invalid Resource`` with one ``{field, message}`` per problem.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse, Response

from hub.sdk import request_schema, schema_problems

from ..spec import marketing_spec

__all__ = ["Answer", "answer", "body_refusal", "problem"]

#: What an operation answers: an HTTP status and a JSON body (``None``: no content).
Answer = tuple[int, dict[str, Any] | None]

ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"


def problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None) -> Answer:
    """A Problem Detail Document as Mailchimp writes one."""
    body: dict[str, Any] = {
        "type": ERRORS_DOC,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    if errors:
        body["errors"] = errors
    return status, body


def body_refusal(slice_name: str, method: str, path: str, payload: Any) -> Answer | None:
    """``400 Invalid Resource`` when ``payload`` departs from the body schema of ``method path`` (the
    spec's path template) in the named slice; ``None`` when it conforms."""
    spec = marketing_spec(slice_name)
    problems = schema_problems(request_schema(spec, method, path), payload, spec=spec)
    if not problems:
        return None
    return problem(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
        [{"field": p.where, "message": p.message} for p in problems],
    )


def answer(result: Answer) -> Response:
    """An operation's answer as an HTTP response (problem documents with their own media type)."""
    status, body = result
    if body is None:
        return Response(status_code=status)
    media = "application/problem+json" if status >= 400 else "application/json"
    return JSONResponse(body, status_code=status, media_type=media)
