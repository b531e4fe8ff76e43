"""The shape of the .orch language: which blocks and attributes exist, what type
each attribute takes, and the checks of a spec's shape and values, reported
with the source line and a caret."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import attrs

from orch.compiler import ir
from orch.compiler.diagnostics import Code, Diagnostic, did_you_mean, error, warning
from orch.compiler.durations import parse_duration
from orch.compiler.frontends.dsl_syntax import Attribute, Block, Spec, Value, excerpt

STR, INT, DUR, BOOL, STRS, COMMAND, LEVEL, WORD = "str", "int", "dur", "bool", "strs", "command", "level", "word"

_TYPE_NAMES = {
    STR: "a quoted string",
    INT: "a whole number",
    DUR: "a duration such as 90m, 2h or 7d",
    BOOL: "true or false",
    STRS: 'a list of strings such as ["a", "b"]',
    COMMAND: 'a command: a list of arguments ["prog", "arg"] or one string',
    LEVEL: "warn or error",
    WORD: "a name",
}

@attrs.frozen
class Shape:
    labels: tuple[int, int] = (0, 0)
    attributes: dict[str, str] = attrs.Factory(dict)
    blocks: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    label_names: str = ""

_CHECK_ATTRS = {"column": STR, "max_age": DUR, "min_rows": INT, "partition_column": STR, "lookback": DUR,
                "sql": STR, "level": LEVEL, "blocking": BOOL}

SHAPES: dict[str, Shape] = {
    "diagnostics": Shape(attributes={"warn": STRS, "ignore": STRS, "warn_error": BOOL}),
    "defaults": Shape(attributes={"schedule": STR, "timezone": STR, "owner": STR, "retries": INT,
                                  "retry_delay": DUR, "group_by": STR, "dialect": STR, "connection": STR}),
    "dbt": Shape((1, 1), {"manifest": STR, "project_dir": STR, "profiles_dir": STR, "target": STR,
                          "select": STR, "exclude": STR, "runner": STR}, required=("manifest",),
                 label_names="a name for the import"),
    "sqlmesh": Shape((1, 1), {"project": STR, "gateway": STR}, required=("project",),
                     label_names="a name for the import"),
    "pipeline": Shape((1, 1), {"schedule": STR, "timezone": STR, "sla": DUR, "critical": BOOL, "owner": STR,
                               "tags": STRS, "assets": STRS, "exclude": STRS, "description": STR},
                      required=("assets",), label_names="the pipeline's name"),
    "asset": Shape((1, 1), {"schedule": STR, "timezone": STR, "sla": DUR, "critical": BOOL, "owner": STR,
                            "tags": STRS, "description": STR, "runner": STR, "retries": INT, "retry_delay": DUR},
                   blocks=("freshness", "partition", "check"), label_names="an asset name or selector"),
    "task": Shape((1, 1), {"command": COMMAND, "workdir": STR, "sql": STR, "dialect": STR, "connection": STR, "after": STRS,
                           "before": STRS, "owner": STR, "tags": STRS, "description": STR, "critical": BOOL,
                           "sla": DUR, "retries": INT, "retry_delay": DUR, "schedule": STR, "timezone": STR},
                  blocks=("check",), label_names="the task's name"),
    "freshness": Shape(attributes={"column": STR, "max_age": DUR, "warn_after": DUR}),
    "partition": Shape(attributes={"field": STR, "granularity": WORD, "type": STR, "start": STR},
                       required=("field",)),
    "check": Shape((1, 2), dict(_CHECK_ATTRS), label_names='the check kind ("freshness", "row_count" or "sql") '
                                                          "and an optional name"),
}

TOP_LEVEL = ("defaults", "diagnostics", "dbt", "sqlmesh", "pipeline", "asset", "task")

CHECK_KINDS = {"freshness": ir.CheckKind.FRESHNESS, "row_count": ir.CheckKind.ROW_COUNT, "sql": ir.CheckKind.CUSTOM_SQL}

_CHECK_REQUIRED = {"freshness": ("column", "max_age"), "row_count": ("min_rows",), "sql": ("sql",)}

_CHECK_ALLOWED = {"freshness": {"column", "max_age", "level", "blocking"},
                  "row_count": {"min_rows", "partition_column", "lookback", "level", "blocking"},
                  "sql": {"sql", "level", "blocking"}}

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

_GRANULARITIES = ("hour", "day", "month", "year")


def _date(value) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _at(spec: Spec, node) -> ir.Location:
    return ir.Location(path=spec.path, line=node.line, col=node.col)


@attrs.define
class _Item:
    """A block with the spec it is written in."""

    spec: Spec
    block: Block

    @property
    def label(self) -> str:
        return self.block.labels[0].value if self.block.labels else ""


class ShapeChecks:
    """Checks of blocks against the language's shape, and reading their values;
    the lowering (dsl.py) builds on them. Findings go to `diagnostics`."""

    diagnostics: list[Diagnostic]

    # diagnostics with the source line and a caret
    def report(self, code: Code, message: str, spec: Spec, node, level: str = "error") -> None:
        text = message + excerpt(spec.text, node.line, node.col)
        make = error if level == "error" else warning
        self.diagnostics.append(make(code, text, _at(spec, node)))

    def unknown(self, what: str, name: str, choices: Iterable[str], spec: Spec, node, code=Code.SPEC_UNKNOWN_NAME):
        self.report(code, f"unknown {what} {name!r}{did_you_mean(name, choices)}", spec, node)

    def check_shape(self, spec: Spec, block: Block, allowed: Sequence[str]) -> bool:
        if block.type not in allowed:
            self.unknown("block", block.type, allowed, spec, block)
            return False
        shape = SHAPES[block.type]
        low, high = shape.labels
        if not low <= len(block.labels) <= high:
            if high == 0:
                self.report(Code.SPEC_UNKNOWN_NAME, f"{block.type} takes no label", spec, block.labels[0])
            else:
                self.report(Code.SPEC_UNKNOWN_NAME, f"{block.type} needs {shape.label_names}, in quotes: "
                            f'{block.type} "..." {{ }}', spec, block)
            return False
        ok = True
        seen: dict[str, Attribute] = {}
        for member in block.members:
            if isinstance(member, Block):
                if member.type not in shape.blocks:
                    choices = list(shape.blocks) + list(shape.attributes)
                    self.unknown(f"block inside {block.type}", member.type, choices, spec, member)
                    ok = False
                continue
            if member.name not in shape.attributes:
                self.unknown(f"attribute of {block.type}", member.name, shape.attributes, spec, member)
                ok = False
            elif member.name in seen:
                first = seen[member.name]
                self.report(Code.DUPLICATE_DEFINITION, f"{member.name} is set twice in this {block.type} "
                            f"(first at line {first.line})", spec, member)
                ok = False
            else:
                seen[member.name] = member
                if not self.check_type(spec, member, shape.attributes[member.name]):
                    ok = False
        for name in shape.required:
            if name not in seen:
                self.report(Code.SPEC_UNKNOWN_NAME, f"{block.type} {self.label_text(block)}needs {name} = ...",
                            spec, block)
                ok = False
        return ok

    @staticmethod
    def label_text(block: Block) -> str:
        return f"{block.labels[0].value!r} " if block.labels else ""

    def check_type(self, spec: Spec, attr: Attribute, kind: str) -> bool:
        value = attr.value
        good = {
            STR: value.kind in ("string", "long_string"),
            INT: value.kind == "number" and isinstance(value.value, int) and value.value >= 0,
            DUR: value.kind == "duration",
            BOOL: value.kind == "word" and value.value in ("true", "false"),
            STRS: value.kind == "list" and all(e.kind in ("string", "long_string") for e in value.value),
            COMMAND: value.kind in ("string", "long_string") or (
                value.kind == "list" and bool(value.value) and all(e.kind == "string" for e in value.value)),
            LEVEL: value.kind in ("word", "string") and value.value in ("warn", "error"),
            WORD: value.kind in ("word", "string"),
        }[kind]
        if not good:
            self.report(Code.INVALID_VALUE, f"{attr.name} expects {_TYPE_NAMES[kind]}, not {value.describe()}",
                        spec, value)
            return False
        if kind == DUR:
            parsed = parse_duration(value.text)
            if parsed is None:
                self.report(Code.INVALID_VALUE, f"bad duration {value.text!r}: write a number and a unit, "
                            "s, m, h, d or w (90m, 2h, 7d), up to ten years", spec, value)
                return False
            if parsed <= timedelta(0):
                self.report(Code.NON_POSITIVE_DURATION, f"{attr.name} must be longer than zero, not {value.text}",
                            spec, value)
                return False
        return True

    def values(self, block: Block) -> dict[str, object]:
        """Attribute name -> Python value (durations as timedelta, lists as lists of str)."""
        out: dict[str, object] = {}
        for attr in block.attributes():
            out[attr.name] = self.plain(attr.value)
        return out

    def plain(self, value: Value) -> object:
        if value.kind == "list":
            return [self.plain(e) for e in value.value]
        if value.kind == "duration":
            return parse_duration(value.text)
        if value.kind == "word" and value.value in ("true", "false"):
            return value.value == "true"
        return value.value

    @staticmethod
    def attr(block: Block, name: str) -> Attribute | None:
        return next((a for a in block.attributes() if a.name == name), None)

    def check_nested(self, spec: Spec, block: Block) -> None:
        # A block type its parent does not take was reported by the parent's shape check.
        if block.type not in SHAPES or not self.check_shape(spec, block, tuple(SHAPES)):
            return
        if block.type == "check":
            kind = block.labels[0].value
            if kind not in CHECK_KINDS:
                self.unknown("check kind", kind, CHECK_KINDS, spec, block.labels[0])
                return
            present = {a.name for a in block.attributes()}
            for name in sorted(present - _CHECK_ALLOWED[kind]):
                attr = self.attr(block, name)
                self.report(Code.SPEC_UNKNOWN_NAME, f"a {kind} check has no {name} (it takes "
                            f"{', '.join(sorted(_CHECK_ALLOWED[kind]))})", spec, attr)
            for name in _CHECK_REQUIRED[kind]:
                if name not in present:
                    self.report(Code.SPEC_UNKNOWN_NAME, f"a {kind} check needs {name} = ...", spec, block)
        if block.type == "partition":
            granularity = self.attr(block, "granularity")
            if granularity is not None and granularity.value.value not in _GRANULARITIES:
                self.unknown("granularity", str(granularity.value.value), _GRANULARITIES, spec, granularity.value,
                             code=Code.INVALID_VALUE)
            start = self.attr(block, "start")
            if start is not None and _date(start.value.value) is None:
                self.report(Code.INVALID_VALUE, f"start expects a date such as \"2024-01-01\", not "
                            f"{start.value.value!r}", spec, start.value)

    def valid_name(self, item: _Item, kind: str) -> bool:
        """Pipeline, task and import names become DAG ids, task ids, asset keys and file
        names: letters, digits, `_`, `-` and `.`, not starting with `-` or `.`."""
        if _NAME.fullmatch(item.label) and len(item.label) <= 200:
            return True
        self.report(Code.INVALID_VALUE, f"{kind} name {item.label!r}: use letters, digits, _, - and . (at most "
                    "200, starting with a letter, digit or _)", item.spec, item.block.labels[0])
        return False

    def unique_labels(self, items: dict[str, list[_Item]], kinds: Sequence[str], what: str) -> None:
        seen: dict[str, _Item] = {}
        for kind in kinds:
            kept = []
            for item in items[kind]:
                first = seen.get(item.label)
                if first is not None:
                    self.report(Code.DUPLICATE_DEFINITION, f"{what} {item.label!r} is defined twice (first at "
                                f"{_at(first.spec, first.block)})", item.spec, item.block.labels[0])
                    continue
                seen[item.label] = item
                kept.append(item)
            items[kind] = kept
