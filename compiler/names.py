"""Names made unique: pipelines, task ids, check names and generated identifiers.

One rule everywhere: the first taker of a name keeps it, and each later one
gets the first free `_2`, `_3`, ... suffix.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable, Iterable


def unique(base: str, taken: set, fold: Callable[[str], object] = str) -> str:
    """`base`, or `base_2`, `base_3`, ... whichever `fold` of it is not in `taken` yet;
    taken from then on."""
    name, n = base, 2
    while fold(name) in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(fold(name))
    return name


#: Names no generated identifier may take in any file: rebinding a builtin or
#: `annotations` (bound by `from __future__ import annotations`) changes what
#: the file's own code means.
_PYTHON_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {
    "annotations"}


class NameScope:
    """The module-level identifiers of one generated file, each distinct.

    `reserved` is every name the file imports or defines itself; a model or
    pipeline named like one of them (`datetime`, `BashOperator`, `dg`,
    `run_dbt`) gets a suffix instead of rebinding it.
    """

    def __init__(self, reserved: Iterable[str] = (), prefix: str = "t_") -> None:
        self.used = set(reserved) | _PYTHON_NAMES
        self.prefix = prefix

    def __call__(self, text: str) -> str:
        base = re.sub(r"\W", "_", text, flags=re.ASCII)
        # Keywords, soft keywords and builtins keep their spelling under a prefix, dunder
        # names are Python's own, and an identifier cannot start with a digit.
        if not base or base[0].isdigit() or base in _PYTHON_NAMES or base.startswith("__"):
            base = f"{self.prefix}{base}"
        return unique(base, self.used)
