"""Diagnostics: every problem orch reports about its input.

A diagnostic always carries a location (a file position or a manifest
unique_id) so the user can find what to fix. `CompileError` is raised when the
input cannot be used at all; problems found in usable input are collected and
returned instead, so one run reports all of them.
"""

from __future__ import annotations

import collections
import difflib
import enum
import json
from collections.abc import Iterable

import attrs

from orch.compiler.ir import Location


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
    INVALID_SETTINGS = "E097"


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


#: Errors about what a project asks for rather than whether it can be read: a
#: team may turn these into warnings while it fixes its meta (`--warn CODE`).
#: Every other error means the input cannot be compiled faithfully.
POLICY_CHECKS = frozenset({Code.INFEASIBLE_FRESHNESS, Code.SLA_BELOW_CRITICAL_PATH, Code.UNKNOWN_PARTITION_FIELD})


def settings_problem(option: str, value: str) -> tuple[Code | None, str | None]:
    """The code `value` names for `option` (warn or ignore), or why it cannot be used there."""
    code = next((c for c in Code if c.value == value.strip().upper()), None)
    if code is None:
        usable = sorted(c.value for c in Code if c in POLICY_CHECKS or (option == "ignore" and c.value[0] == "W"))
        return None, f"{value!r} is not a diagnostic code{did_you_mean(value.upper(), usable)}"
    policy = ", ".join(sorted(c.value for c in POLICY_CHECKS))
    is_warning = code.value.startswith("W")
    if option == "warn" and is_warning:
        return None, f"{code.value} is a warning already"
    if not is_warning and code not in POLICY_CHECKS:
        what = "made a warning" if option == "warn" else "ignored"
        return None, (f"{code.value} ({code.name.lower().replace('_', ' ')}) means the input cannot be compiled "
                      f"faithfully and cannot be {what}; the policy checks are {policy}")
    return code, None


class UnusableCode(ValueError):
    """A code a setting cannot take: the `option` (warn or ignore), the `value` as
    written, and `problem`, why."""

    def __init__(self, option: str, value: str, problem: str):
        super().__init__(option, value, problem)
        self.option, self.value, self.problem = option, value, problem


def _codes(codes: Iterable[Code]) -> tuple[Code, ...]:
    return tuple(sorted(set(codes), key=lambda c: c.value))


@attrs.frozen(kw_only=True)
class Settings:
    """Which diagnostics a project has chosen to soften, silence or harden.

    Settings from the command line, `[tool.orch]` and specs add up: a code any of
    them names is warned or ignored, and any of them can ask for `warn_error`.
    """

    # Sorted, so that equal settings print alike: the compile stamp keys on their text.
    warn: tuple[Code, ...] = attrs.field(default=(), converter=_codes)
    ignore: tuple[Code, ...] = attrs.field(default=(), converter=_codes)
    warn_error: bool = False

    @classmethod
    def named(cls, warn: Iterable[str] = (), ignore: Iterable[str] = (), warn_error: bool = False) -> Settings:
        """Settings from codes as a user wrote them; UnusableCode at the first that cannot be used."""
        codes: dict[str, list[Code]] = {"warn": [], "ignore": []}
        for option, values in (("warn", warn), ("ignore", ignore)):
            for value in values:
                code, problem = settings_problem(option, value)
                if problem:
                    raise UnusableCode(option, value, problem)
                codes[option].append(code)
        return cls(warn=codes["warn"], ignore=codes["ignore"], warn_error=warn_error)

    def merged(self, other: Settings | None) -> Settings:
        if other is None:
            return self
        return Settings(warn=(*self.warn, *other.warn), ignore=(*self.ignore, *other.ignore),
                        warn_error=self.warn_error or other.warn_error)

    def apply(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        kept = []
        for d in diagnostics:
            if d.code in self.ignore:
                continue
            if d.is_error and d.code in self.warn:
                d = attrs.evolve(d, level=Level.WARNING)
            # A code warned by name stays a warning under --warn-error: the narrower setting wins.
            elif not d.is_error and self.warn_error and d.code not in self.warn:
                d = attrs.evolve(d, level=Level.ERROR)
            kept.append(d)
        return kept


class CompileError(Exception):
    """The input cannot be turned into IR at all (exit code 2)."""

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = (diagnostics,)
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


def render_all(diagnostics: Iterable[Diagnostic], fmt: str, color: bool, per_code: int | None = None) -> str:
    """Every diagnostic as JSON, or as text lines; text shows at most `per_code` of
    each code, then one count line per code that had more."""
    diagnostics = list(diagnostics)
    if fmt == "json":
        return json.dumps([d.to_json() for d in diagnostics], indent=2)
    counts = collections.Counter(d.code for d in diagnostics)
    shown: collections.Counter[Code] = collections.Counter()
    lines = []
    for d in diagnostics:
        shown[d.code] += 1
        if per_code is None or shown[d.code] <= per_code:
            lines.append(d.render(color))
    for code, count in counts.items():
        if per_code is not None and count > per_code:
            lines.append(f"{code.value} x {count} ({per_code} shown; --verbose for all)")
    return "\n".join(lines)
