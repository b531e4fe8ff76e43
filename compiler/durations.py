"""Durations as people write them: `90m`, `2h`, `7d`, `1w`.

One reading and one writing for the spec language, the lineage page, `orch
explain` and the comments of generated files, so a duration reads the same
wherever orch shows it.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Ten years, as for meta durations: past it a value is a typo.
LONGEST = timedelta(days=3650)
_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)([A-Za-z]+)")


def parse_duration(text: str) -> timedelta | None:
    """`90m`, `2h`, `7d`, `1w`, `30s` (decimals allowed); None when the unit is unknown."""
    match = _DURATION.fullmatch(text)
    if not match or match.group(2) not in UNITS:
        return None
    seconds = float(match.group(1)) * UNITS[match.group(2)]
    if not math.isfinite(seconds) or seconds > LONGEST.total_seconds():
        return None
    return timedelta(seconds=seconds)


def format_duration(value: timedelta | float, units: str = "wdhm") -> str:
    """The largest of `units` that divides the duration whole, else seconds: `2d`, `90m`."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    for unit in units:
        if seconds and seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"
