"""Schedules: which crons and aliases are valid, and how often a schedule fires.

Shared by the frontends (a schedule a user wrote is checked where it is
written), the passes that compare schedules, and `orch diff`.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime, timedelta

import attrs
from croniter import croniter

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# A fixed window keeps the result deterministic; two years covers every
# monthly and yearly pattern at least twice.
_START = datetime(2025, 1, 1)
_WINDOW = timedelta(days=731)
_MAX_FIRES = 2000


@attrs.frozen
class Cadence:
    mean: timedelta
    """Average time between runs."""
    max_gap: timedelta
    """Longest time between two runs: how old data gets just before a run."""


@functools.lru_cache(maxsize=1024)
def cron_problem(cron: str, timezone: str = "UTC") -> str | None:
    """Why a schedule is invalid, or None when it is fine."""
    if cron == "@once":
        return None
    expr = ALIASES.get(cron, cron)
    if expr.startswith("@"):
        return f"unknown schedule alias {cron!r}; use one of {', '.join(sorted(ALIASES))}, or a cron"
    if len(expr.split()) != 5:
        return f"{cron!r} is not a five-field cron (minute hour day-of-month month day-of-week)"
    if not croniter.is_valid(expr):
        return f"{cron!r} is not a valid cron expression"
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {timezone!r}"
    return None


@functools.lru_cache(maxsize=1024)
def cadence(cron: str) -> Cadence | None:
    """The cadence of a valid cron; None for `@once`."""
    if cron == "@once":
        return None
    it = croniter(ALIASES.get(cron, cron), _START)
    previous = it.get_next(datetime)
    end = _START + _WINDOW
    first, gaps, fires = previous, timedelta(0), 1
    while fires < _MAX_FIRES:
        nxt = it.get_next(datetime)
        if nxt > end:
            break
        gaps = max(gaps, nxt - previous)
        previous, fires = nxt, fires + 1
    if fires == 1:
        return Cadence(mean=_WINDOW, max_gap=_WINDOW)
    return Cadence(mean=(previous - first) / (fires - 1), max_gap=gaps)


def describe(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    # People think of a daily gap as "24h"; days read better from three on.
    if seconds >= 3 * 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds}s"


def normalized_cron(text: str | None) -> str | None:
    """A cron as orch diff compares it: aliases spelled out, whitespace single."""
    if text is None:
        return None
    return ALIASES.get(text.strip(), " ".join(text.split()))


def timezone_name(value) -> str:
    """A platform's timezone object or name as orch diff compares it; UTC however spelt."""
    if value is None:
        return "UTC"
    name = getattr(value, "name", None) or str(value)
    return "UTC" if name in ("UTC", "Etc/UTC", "+00:00") else name
