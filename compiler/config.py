"""`[tool.orch]` in pyproject.toml: a project's diagnostic settings, kept beside its code.

The file used is the nearest pyproject.toml with a `[tool.orch]` table, from each
input's folder upwards, as ruff finds its own settings. A table orch cannot read
is unusable input, so a typo in it never silently changes what is reported.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence

from orch.compiler.diagnostics import Code, CompileError, Settings, UnusableCode, did_you_mean, error
from orch.compiler.ir import Location

_KEYS = ("warn", "ignore", "warn-error")
_TABLE = re.compile(r"\s*\[\s*tool\s*\.\s*orch\s*\]")


def find(inputs: Sequence[str]) -> list[str]:
    """The pyproject.toml files whose `[tool.orch]` applies to `inputs`, each once."""
    found: dict[str, None] = {}
    for path in inputs:
        folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
        while True:
            candidate = os.path.join(folder, "pyproject.toml")
            if os.path.isfile(candidate) and _has_table(candidate):
                found[candidate] = None
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return list(found)


def _has_table(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return any(_TABLE.match(line) for line in fh)
    except (OSError, UnicodeDecodeError):
        return False


def _where(path: str, text: str, key: str | None) -> Location:
    """The line of `key` inside `[tool.orch]`, else of the table itself."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _TABLE.match(line)), 0)
    if key is not None:
        for i in range(start + 1, len(lines)):
            if re.match(r"\s*\[", lines[i]):
                break
            if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", lines[i]):
                return Location(path=path, line=i + 1, col=lines[i].index(key) + 1)
    return Location(path=path, line=start + 1, col=1)


def read(path: str) -> Settings:
    """The settings of one pyproject.toml; CompileError (E097) when they cannot be used."""

    def fail(message: str, key: str | None = None) -> CompileError:
        return CompileError(error(Code.INVALID_SETTINGS, f"[tool.orch]: {message}", _where(path, text, key)))

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        table = tomllib.loads(text).get("tool", {}).get("orch", {})
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CompileError(error(Code.INVALID_SETTINGS, f"cannot read {path}: {reason}", Location(path=path))) from None
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"line (\d+), column (\d+)", str(exc))
        where = Location(path=path, line=int(at[1]), col=int(at[2])) if at else Location(path=path)
        raise CompileError(error(Code.INVALID_SETTINGS, f"not valid TOML: {exc}", where)) from None
    if not isinstance(table, dict):
        raise fail("expected a table")
    for key in table:
        if key not in _KEYS:
            raise fail(f"unknown setting {key!r}{did_you_mean(key, _KEYS)}; the settings are {', '.join(_KEYS)}",
                       key)
    warn_error = table.get("warn-error", False)
    if not isinstance(warn_error, bool):
        raise fail(f"warn-error expects true or false, not {warn_error!r}", "warn-error")
    for option in ("warn", "ignore"):
        values = table.get(option, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise fail(f'{option} expects a list of codes such as ["W031"], not {values!r}', option)
    try:
        return Settings.named(table.get("warn", []), table.get("ignore", []), warn_error)
    except UnusableCode as exc:
        raise fail(f"{exc.option}: {exc.problem}", exc.option) from None


def settings_for(inputs: Sequence[str]) -> Settings:
    settings = Settings()
    for path in find(inputs):
        settings = settings.merged(read(path))
    return settings
