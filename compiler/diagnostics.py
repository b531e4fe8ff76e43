"""Diagnostics: every problem orch reports about its input.

A diagnostic always carries a location (a file position or a manifest
unique_id) so the user can find what to fix. `CompileError` is raised when the
input cannot be used at all; problems found in usable input are collected and
returned instead, so one run reports all of them.
"""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Iterable

import attrs

from compiler.ir import Location


class Level(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Code(str, enum.Enum):
    """Every diagnostic code orch emits; docs/diagnostics.md explains each."""

    UNREADABLE_INPUT = "E001"
    NOT_A_MANIFEST = "E002"
    UNSUPPORTED_SCHEMA = "E003"
    UNKNOWN_INPUT_KIND = "E004"
    DUPLICATE_ASSET = "E005"
    MALFORMED_NODE = "E006"
    DANGLING_REFERENCE = "E010"
    INVALID_META = "E011"
    INVALID_SELECTOR = "E012"
    EMPTY_SELECTION = "W013"
    DISABLED_DEPENDENCY = "W014"
    CYCLE = "E020"
    INVALID_CRON = "E030"
    UPSTREAM_SLOWER = "W031"
    NON_POSITIVE_DURATION = "E040"
    INFEASIBLE_FRESHNESS = "E041"
    SLA_BELOW_CRITICAL_PATH = "E042"
    INVALID_RUN_RESULTS = "E043"
    INVALID_PARTITION = "E050"
    UNKNOWN_PARTITION_FIELD = "E051"
    UNKNOWN_BACKEND = "E060"
    BROKEN_BACKEND = "E061"
    UNSUPPORTED_BY_BACKEND = "W062"
    BACKEND_CANNOT_RUN = "E063"
    MISSING_BACKEND_OPTION = "E064"
    LARGE_TRIGGERER_DAG = "W065"
    OUTPUT_CONFLICT = "E070"
    RUNNER_UNAVAILABLE = "E080"
    SPEC_SYNTAX = "E090"
    SPEC_UNKNOWN_NAME = "E091"
    UNKNOWN_ASSET = "E092"
    DUPLICATE_DEFINITION = "E093"
    INVALID_VALUE = "E094"
    BAD_INCLUDE = "E095"
    SQLMESH_LOAD = "E096"


@attrs.frozen(kw_only=True)
class Diagnostic:
    code: Code
    level: Level
    message: str
    span: Location

    @property
    def is_error(self) -> bool:
        return self.level is Level.ERROR

    def render(self, color: bool = False) -> str:
        label = f"{self.level.value}[{self.code.value}]"
        if color:
            shade = "\033[1;31m" if self.is_error else "\033[1;33m"
            label = f"{shade}{label}\033[0m"
            return f"\033[1m{self.span}\033[0m: {label}: {self.message}"
        return f"{self.span}: {label}: {self.message}"

    def to_json(self) -> dict:
        return {
            "code": self.code.value,
            "level": self.level.value,
            "message": self.message,
            "location": {
                "path": self.span.path,
                "line": self.span.line,
                "col": self.span.col,
                "unique_id": self.span.unique_id,
            },
        }


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """"; did you mean 'a' or 'b'?" for the closest choices, or "" when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def error(code: Code, message: str, span: Location) -> Diagnostic:
    return Diagnostic(code=code, level=Level.ERROR, message=message, span=span)


def warning(code: Code, message: str, span: Location) -> Diagnostic:
    return Diagnostic(code=code, level=Level.WARNING, message=message, span=span)


class CompileError(Exception):
    """The input cannot be turned into IR at all (exit code 2)."""

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = (diagnostics,)
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


def render_all(diagnostics: Iterable[Diagnostic], fmt: str, color: bool) -> str:
    diagnostics = list(diagnostics)
    if fmt == "json":
        return json.dumps([d.to_json() for d in diagnostics], indent=2)
    return "\n".join(d.render(color) for d in diagnostics)
