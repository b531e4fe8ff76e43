"""Line and column of a value inside a JSON text, found by its path.

`json` gives positions only for syntax errors; a schema error names a path
(`tables/2/freshness/max_age_hours`), and users want the line. This scanner
walks the same text once and records where every value starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
_SPACE = re.compile(r"[ \t\r\n]*")


def value_offsets(text: str) -> dict[tuple, int]:
    """Offset of every value in `text`, keyed by its path (keys and indices)."""
    found: dict[tuple, int] = {}

    def value(i: int, path: tuple) -> int:
        i = _SPACE.match(text, i).end()
        found[path] = i
        ch = text[i:i + 1]
        if ch == "{":
            i = _SPACE.match(text, i + 1).end()
            if text[i:i + 1] == "}":
                return i + 1
            while True:
                i = _SPACE.match(text, i).end()
                key, i = json.decoder.scanstring(text, i + 1)
                i = _SPACE.match(text, i).end() + 1  # the colon
                found[(*path, key, ":key")] = i
                i = _SPACE.match(text, value(i, (*path, key))).end()
                if text[i:i + 1] == "}":
                    return i + 1
                i += 1  # the comma
        if ch == "[":
            i = _SPACE.match(text, i + 1).end()
            if text[i:i + 1] == "]":
                return i + 1
            index = 0
            while True:
                i = _SPACE.match(text, value(i, (*path, index))).end()
                index += 1
                if text[i:i + 1] == "]":
                    return i + 1
                i += 1
        if ch == '"':
            return json.decoder.scanstring(text, i + 1)[1]
        m = _SCALAR.match(text, i)
        if m is None:
            raise ValueError(f"not JSON at offset {i}")
        return m.end()

    value(0, ())
    return found


def line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def locate(text: str, path: Sequence) -> tuple[int, int]:
    """1-based (line, col) of the value at `path`, or of its nearest enclosing value."""
    try:
        offsets = value_offsets(text)
    except (ValueError, IndexError):
        return 1, 1
    path = tuple(path)
    while path and path not in offsets:
        path = path[:-1]
    return line_col(text, offsets.get(path, 0))
