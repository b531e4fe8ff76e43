"""The backend contract, and loading backends from the `orch.backends` entry points.

Built-in backends register through the same entry-point group as third-party
ones, so a plugin is a first-class citizen: `orch backends` lists it and
`orch compile --target NAME` uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import ClassVar

import attrs

from orch.compiler import ir
from orch.compiler.diagnostics import Code, CompileError, Diagnostic, error, warning
from orch.compiler.grouping import upstream_pipelines

ENTRY_POINT_GROUP = "orch.backends"


@attrs.frozen(kw_only=True)
class OutputFile:
    """One file a backend wants written, relative to its output folder."""

    path: str
    content: str


class Backend:
    """Base class of every backend.

    Subclasses set `name` and the capability flags, and implement `emit`. The
    flags say which IR features the target can express; `unsupported` turns a
    feature the target lacks into a warning instead of silently dropping it.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    SUPPORTS_PARTITIONS: ClassVar[bool] = False
    SUPPORTS_SLA: ClassVar[bool] = False
    SUPPORTS_FRESHNESS: ClassVar[bool] = False
    SUPPORTS_CHECKS: ClassVar[bool] = False
    SUPPORTS_CROSS_PIPELINE: ClassVar[bool] = False
    #: Capabilities outside what the backend is for (a monitor's config has no use for
    #: partitions): lacking them loses nothing, so `unsupported` does not warn about them.
    OUT_OF_SCOPE: ClassVar[frozenset[str]] = frozenset()
    #: Runner types this backend can execute; empty means it runs nothing itself.
    RUNNERS: ClassVar[tuple[type, ...]] = ()
    #: The `--option KEY=VALUE` settings this backend reads, with their defaults.
    OPTIONS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, options: Mapping[str, str] | None = None):
        self.options = dict(options or {})

    def option(self, key: str) -> str:
        """The `--option` value of `key`, or its default from OPTIONS."""
        return self.options.get(key, self.OPTIONS[key])

    @classmethod
    def capabilities(cls) -> dict[str, bool]:
        caps = {
            flag[len("SUPPORTS_"):].lower(): bool(getattr(cls, flag))
            for flag in dir(cls)
            if flag.startswith("SUPPORTS_")
        }
        caps.update({f"runs_{ir_tag(r)}": True for r in cls.RUNNERS})
        return dict(sorted(caps.items()))

    def unsupported(self, project: ir.Project) -> list[Diagnostic]:
        """Warnings for IR features present in `project` that this backend cannot express."""
        found = []

        def lacks(flag: str, what: str, where: ir.Location) -> None:
            if not getattr(self, flag) and flag not in self.OUT_OF_SCOPE:
                found.append(
                    warning(
                        Code.UNSUPPORTED_BY_BACKEND,
                        f"backend {self.name!r} cannot express {what}; it is left out of its output",
                        where,
                    )
                )

        for asset in project.assets:
            if asset.partitioning is not None:
                lacks("SUPPORTS_PARTITIONS", f"the partitioning of {asset.name}", asset.origin)
            if asset.freshness is not None and asset.runner is not None:
                lacks("SUPPORTS_FRESHNESS", f"the freshness target of {asset.name}", asset.origin)
            if asset.sla is not None:
                lacks("SUPPORTS_SLA", f"the completion SLA of {asset.name}", asset.origin)
            if self.RUNNERS and asset.runner is not None and not isinstance(asset.runner, self.RUNNERS):
                found.append(
                    error(
                        Code.BACKEND_CANNOT_RUN,
                        f"backend {self.name!r} cannot run {asset.name} "
                        f"(runner {ir_tag(type(asset.runner))})",
                        asset.origin,
                    )
                )
        for check in project.checks:
            lacks("SUPPORTS_CHECKS", f"the check {check.name}", check.origin)
        if not self.SUPPORTS_CROSS_PIPELINE and "SUPPORTS_CROSS_PIPELINE" not in self.OUT_OF_SCOPE:
            assets, checks_of, owner_of = project.asset_map(), project.checks_by_asset(), project.pipeline_of()
            for pipeline in project.pipelines:
                for upstream, keys in upstream_pipelines(pipeline, assets, checks_of, owner_of).items():
                    lacks("SUPPORTS_CROSS_PIPELINE",
                          f"that pipeline {pipeline.name} waits for {upstream}, whose tables it reads",
                          assets[keys[0]].origin)
        return found

    def emit(self, project: ir.Project, source: str) -> Sequence[OutputFile]:
        """The files for `project`; `source` names the input for file headers."""
        raise NotImplementedError

    #: Whether `read_back` can load this backend's output, for `orch diff`.
    READS_BACK: ClassVar[bool] = False

    @classmethod
    def read_back(cls, folder: str) -> dict:
        """What the output in `folder` means, loaded by the platform itself, in the
        shape `orch diff` compares (compiler/parity.py): runs in a child process."""
        raise NotImplementedError(f"backend {cls.name!r} cannot read its output back")


def ir_tag(runner_type: type) -> str:
    return ir.RUNNER_TAGS.get(runner_type, runner_type.__name__)


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))


def _registry() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in _entry_points():
        other = found.get(ep.name)
        if other is not None and other.value != ep.value:
            raise CompileError(
                error(
                    Code.BROKEN_BACKEND,
                    f"backend {ep.name!r} is registered twice: by {_dist(other)} ({other.value}) "
                    f"and by {_dist(ep)} ({ep.value}); uninstall one of them",
                    ir.Location(path=f"entry point {ENTRY_POINT_GROUP}"),
                )
            )
        found[ep.name] = ep
    return found


def _dist(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def available() -> list[str]:
    return sorted(_registry())


def load(name: str) -> type[Backend]:
    """The backend class registered as `name`; a CompileError says why not."""
    where = ir.Location(path=f"entry point {ENTRY_POINT_GROUP}:{name}")
    registry = _registry()
    ep = registry.get(name)
    if ep is None:
        known = ", ".join(sorted(registry)) or "none"
        raise CompileError(
            error(Code.UNKNOWN_BACKEND, f"unknown backend {name!r}; installed backends: {known}", where)
        )
    try:
        cls = ep.load()
    except Exception as exc:  # a plugin can fail in any way while importing
        raise CompileError(
            error(
                Code.BROKEN_BACKEND,
                f"backend {name!r} ({ep.value}, from {_dist(ep)}) failed to load: "
                f"{type(exc).__name__}: {exc}",
                where,
            )
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise CompileError(
            error(
                Code.BROKEN_BACKEND,
                f"backend {name!r} ({ep.value}) is not a subclass of orch.compiler.backend.Backend",
                where,
            )
        )
    if cls.name != name:
        raise CompileError(
            error(
                Code.BROKEN_BACKEND,
                f"backend {name!r} ({ep.value}) calls itself {cls.name!r}; the entry point name and "
                "the class's `name` must agree",
                where,
            )
        )
    return cls
