"""Names and selectors over the assets a spec can see: `fct_orders`, `tag:nightly`,
`+layer:marts`, `import:jaffle`, globs."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable

from orch.compiler import ir

SELECTOR_METHODS = ("layer", "tag", "source", "kind", "path", "import")
_SOURCES = {ir.AssetKind.MODEL: "dbt", ir.AssetKind.SEED: "dbt", ir.AssetKind.SNAPSHOT: "dbt",
            ir.AssetKind.SOURCE: "source", ir.AssetKind.EXPOSURE: "dbt", ir.AssetKind.SQLMESH_MODEL: "sqlmesh",
            ir.AssetKind.TASK: "task"}


class AssetIndex:
    """Names and selectors over every asset the spec can see."""

    def __init__(self, assets: dict[str, ir.Asset], import_of: dict[str, str]):
        self.assets = assets
        self.import_of = import_of
        self.by_name: dict[str, list[str]] = {}
        for key, asset in sorted(assets.items()):
            for name in {asset.name, key, *(str(asset.relation).split(".", 1)[1:] if asset.relation else ())}:
                self.by_name.setdefault(name, []).append(key)

    def names(self) -> list[str]:
        return sorted({a.name for a in self.assets.values()})

    def select(self, text: str) -> list[str]:
        up, down = text.startswith("+"), text.endswith("+") and len(text) > 1
        body = text[1 if up else 0:len(text) - (1 if down else 0)]
        if not body:
            raise ValueError(f"empty selector {text!r}")
        matched = self._match(body)
        if up or down:
            matched = self._expand(matched, up, down)
        return sorted(matched)

    def _match(self, body: str) -> set[str]:
        method, sep, value = body.partition(":")
        if not sep or method not in SELECTOR_METHODS and not re.fullmatch(r"[a-z_]+", method):
            if any(ch in body for ch in "*?["):
                return {k for k, a in self.assets.items() if fnmatch.fnmatchcase(a.name, body)
                        or fnmatch.fnmatchcase(k, body)}
            return set(self.by_name.get(body, ()))
        if method not in SELECTOR_METHODS:
            close = difflib.get_close_matches(method, SELECTOR_METHODS, n=1)
            hint = f"; did you mean {close[0]}:?" if close else ""
            raise ValueError(f"unknown selector method {method}:{hint} (methods: {', '.join(SELECTOR_METHODS)})")
        test: Callable[[str, ir.Asset], bool] = {
            "layer": lambda k, a: fnmatch.fnmatchcase(a.layer or "", value),
            "tag": lambda k, a: any(fnmatch.fnmatchcase(t, value) for t in a.tags),
            "source": lambda k, a: _SOURCES.get(a.kind) == value,
            "kind": lambda k, a: a.kind.value == value,
            "path": lambda k, a: fnmatch.fnmatchcase(a.path or "", value),
            "import": lambda k, a: self.import_of.get(k) == value,
        }[method]
        return {k for k, a in self.assets.items() if test(k, a)}

    def _expand(self, keys: set[str], up: bool, down: bool) -> set[str]:
        out = set(keys)
        if up:
            stack = list(keys)
            while stack:
                for u in self.assets[stack.pop()].upstream:
                    if u in self.assets and u not in out:
                        out.add(u)
                        stack.append(u)
        if down:
            children: dict[str, list[str]] = {}
            for k, a in self.assets.items():
                for u in a.upstream:
                    children.setdefault(u, []).append(k)
            stack = list(keys)
            seen = set(keys)
            while stack:
                for c in children.get(stack.pop(), ()):
                    if c not in seen:
                        seen.add(c)
                        out.add(c)
                        stack.append(c)
        return out
