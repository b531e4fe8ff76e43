"""IR <-> JSON: the one cattrs converter.

The document is `{"format_version": N, "project": {...}}`. Unknown keys are
rejected, so a typo or a document from a newer orch fails loudly instead of
being silently dropped. Durations are whole seconds, dates ISO strings,
runners a tagged union on `"type"`, and a check's parameters one on `"kind"`.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import cattrs
from cattrs.strategies import configure_tagged_union

from orch.compiler import ir


class IrFormatError(ValueError):
    """An IR document that this version of orch cannot read."""


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, omit_if_default=True)

    def structure_seconds(value: Any, _: type) -> timedelta:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"a duration must be whole seconds, got {value!r}")
        return timedelta(seconds=value)

    def unstructure_seconds(value: timedelta) -> int:
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise ValueError(f"durations in the IR are whole seconds, got {value}")
        return int(seconds)

    conv.register_unstructure_hook(timedelta, unstructure_seconds)
    conv.register_structure_hook(timedelta, structure_seconds)
    conv.register_unstructure_hook(date, date.isoformat)
    conv.register_structure_hook(date, lambda v, _: date.fromisoformat(v))

    def structure_scalar(value: Any, _: type) -> Any:
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        raise ValueError(f"a parameter value must be a JSON scalar, got {value!r}")

    conv.register_structure_hook(str | int | float | bool | None, structure_scalar)

    configure_tagged_union(
        ir.Runner,
        conv,
        tag_name="type",
        tag_generator=lambda cls: ir.RUNNER_TAGS[cls],
    )
    configure_tagged_union(
        ir.CheckParams,
        conv,
        tag_name="kind",
        tag_generator=lambda cls: ir.CHECK_KINDS[cls].value,
    )
    # Fields are typed `Runner | None`; route them through the tagged union so
    # the tag is written and required, instead of cattrs guessing by shape.
    optional_runner = ir.Runner | None
    conv.register_unstructure_hook(
        optional_runner, lambda v: None if v is None else conv.unstructure(v, ir.Runner)
    )
    conv.register_structure_hook(
        optional_runner, lambda v, _: None if v is None else conv.structure(v, ir.Runner)
    )
    return conv


converter = _make_converter()


def to_dict(project: ir.Project) -> dict:
    return {
        "format_version": ir.IR_FORMAT_VERSION,
        "project": converter.unstructure(project),
    }


def from_dict(document: Any) -> ir.Project:
    if not isinstance(document, dict):
        raise IrFormatError("an IR document is a JSON object")
    version = document.get("format_version")
    if version != ir.IR_FORMAT_VERSION:
        raise IrFormatError(
            f"IR format version {version!r} is not supported "
            f"(this orch reads version {ir.IR_FORMAT_VERSION})"
        )
    # "$comment" is where a written IR file carries its generated-file header.
    extra = set(document) - {"format_version", "project", "$comment"}
    if extra:
        raise IrFormatError(f"unknown keys in IR document: {sorted(extra)}")
    try:
        return converter.structure(document["project"], ir.Project)
    except (cattrs.BaseValidationError, KeyError, ValueError, TypeError) as exc:
        raise IrFormatError(_describe(exc)) from exc


def dumps(project: ir.Project) -> str:
    """Canonical JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(to_dict(project), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def loads(text: str) -> ir.Project:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise IrFormatError(f"not JSON: {exc}") from exc
    return from_dict(document)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        notes = cattrs.transform_error(exc)
        return "; ".join(notes)
    return str(exc)
