"""Durations and schedules as the config writes them: ``90s``, ``15m``, ``24h``, ``7d``, ``every 15m``, cron."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Literal

__all__ = ["MAX_DURATION", "parse_duration", "parse_schedule"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_EVERY = re.compile(r"^\s*every\s+(\d+(?:\.\d+)?\s*(?:s|m|h|d))\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest duration accepted (ten years, 3650d): longer ones mean "never" for a schedule or a
#: reminder, and past it date arithmetic overflows (``timedelta`` stops at 999,999,999 days).
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str | int | float) -> timedelta:
    """``"90s"``, ``"15m"``, ``"24h"``, ``"7d"`` (or a number of seconds) to a ``timedelta``, at most
    ``MAX_DURATION``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if isinstance(text, float) and math.isnan(text):
            raise ValueError("nan is not a number of seconds")
        if text < 0:
            raise ValueError(f"{text!r} is negative; a duration is zero or more seconds")
        seconds: int | float = text  # compared before any conversion: a huge int does not fit a float
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 24h or 7d")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days}d (ten years), the longest duration accepted")
    return timedelta(seconds=float(seconds))


def parse_schedule(text: str) -> tuple[Literal["interval"], timedelta] | tuple[Literal["cron"], str]:
    """A job schedule: ``every 15m`` (an interval) or a five-field cron expression."""
    every = _EVERY.match(text)
    if every:
        interval = parse_duration(every.group(1))
        if interval.total_seconds() <= 0:
            raise ValueError("an interval must be longer than zero")
        return "interval", interval
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"{text!r} is neither `every <duration>` (every 15m) nor a five-field cron expression")
    from apscheduler.triggers.cron import CronTrigger  # validates field by field, with its own messages

    try:
        CronTrigger.from_crontab(text)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {text!r}: {exc}") from None
    return "cron", text
