"""Which setting to fix: a platform's refusal reworded once, in the transport, for every request.

A 401 from a platform says "unauthorized"; an admin needs "fix the ``access_token`` setting of
connector ``crm`` (a private app token with the contacts scopes)". A connector states that once, as
a ``SettingHint`` in its ``TransportSettings``, instead of wrapping each call in its own handler.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.errors import ConnectorError

__all__ = ["AUTH_STATUSES", "SettingHint", "explain"]

#: The statuses a platform answers when it refuses the credentials.
AUTH_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class SettingHint:
    """The message that replaces the transport's own when the platform answers one of ``statuses``.

    ``message`` may name ``{status}`` (the HTTP status) and ``{detail}`` (the transport's text:
    request, status, the platform's code and message). The error keeps its class (an ``AuthError``
    stays one, a 404's ``FatalError`` stays one) and its status.

    Example: ``SettingHint("HubSpot refused the access token (HTTP {status}); fix `access_token`")``.
    """

    message: str
    statuses: frozenset[int] = AUTH_STATUSES

    def applies_to(self, exc: ConnectorError) -> bool:
        return exc.status in self.statuses

    def reword(self, exc: ConnectorError, connector: str) -> ConnectorError:
        detail = str(exc).removeprefix(f"[{connector}] ")
        text = self.message.format(status=exc.status, detail=detail, connector=connector)
        return type(exc)(text, connector=connector, status=exc.status)


def explain(exc: ConnectorError, hints: Iterable[SettingHint], connector: str) -> ConnectorError:
    """``exc`` reworded by the first hint for its status, or ``exc`` itself when none applies."""
    for hint in hints:
        if hint.applies_to(exc):
            return hint.reword(exc, connector)
    return exc
