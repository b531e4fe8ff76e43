"""Skipping a compile whose inputs and outputs have not changed since the last one.

Build scripts and CI run `orch compile` on every change anywhere, and most runs
change nothing orch reads. After a successful compile a stamp records a hash
of everything that decides the output (input bytes, the command line, the
working directory, orch's and black's versions, the installed backends) and
a hash of every file written. When the next compile has the same key and every
output file still hashes the same, the previous result stands: the same
diagnostics are printed and nothing is built or written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import entry_points, version

from orch.compiler import __version__, codegen
from orch.compiler.backend import OutputFile

_CHUNK = 1 << 20


def _file_hash(path: str, into=None):
    digest = into or hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest


def key(inputs: Sequence[str], extra_files: Iterable[str | None], settings: dict) -> str | None:
    """The hash of what decides a compile's output; None when an input is a folder
    or a spec (inputs that read further files are not stamped)."""
    digest = hashlib.sha256()
    try:
        black_version = version("black")
    except Exception:  # black not installed as a distribution: never reuse a stamp
        return None
    head = {"orch": __version__, "black": black_version, "cwd": os.getcwd(), "settings": settings,
            "backends": sorted((ep.name, ep.value, getattr(ep.dist, "version", "")) for ep in
                               entry_points(group="orch.backends"))}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    for path in [*inputs, *(p for p in extra_files if p)]:
        # A spec reads includes and imports of its own, which this key would not see.
        if not os.path.isfile(path) or path.endswith(".orch"):
            return None
        digest.update(os.path.abspath(path).encode() + b"\0")
        _file_hash(path, digest)
    return digest.hexdigest()


def _path(out_dirs: Sequence[str]) -> str:
    where = hashlib.sha256("\0".join(sorted(os.path.abspath(d) for d in out_dirs)).encode()).hexdigest()
    return os.path.join(os.path.dirname(codegen._cache_dir()), "compile", f"{where}.json")


def _tree(out_dir: str) -> dict[str, str]:
    """rel path -> sha256 of every file orch generated in `out_dir`."""
    found = {}
    for base, dirs, files in os.walk(out_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            path = os.path.join(base, name)
            if codegen.is_generated(path):
                found[os.path.relpath(path, out_dir)] = _file_hash(path).hexdigest()
    return found


def load(compile_key: str | None, out_dirs: Sequence[str], root: str) -> dict | None:
    """The stamp of the last compile into `out_dirs` (under `root`), if it had this
    key and its outputs are still exactly as it left them."""
    if compile_key is None or os.path.exists(codegen._side_paths(root)[0]):
        return None  # a compile is mid-commit, or was killed in one
    try:
        with open(_path(out_dirs), encoding="utf-8") as fh:
            stamp = json.load(fh)
    except (OSError, ValueError):
        return None
    if stamp.get("key") != compile_key:
        return None
    for out_dir in out_dirs:
        if _tree(out_dir) != stamp["outputs"].get(os.path.abspath(out_dir)):
            return None
    return stamp


def save(compile_key: str | None, outputs: Mapping[str, Iterable[OutputFile]], report: str,
         summary: Sequence[str]) -> None:
    """Record a successful compile: `outputs` are the files just written into each
    folder, hashed from memory rather than read back."""
    if compile_key is None:
        return
    marker = codegen.GENERATED_MARKER.encode()
    trees = {}
    for out_dir, files in outputs.items():
        tree = {}
        for f in files:
            data = f.content.encode("utf-8")
            # As `_tree` sees the folder: only files that carry orch's header.
            if marker in data[:codegen._HEAD_BYTES]:
                tree[os.path.normpath(f.path)] = hashlib.sha256(data).hexdigest()
        trees[os.path.abspath(out_dir)] = tree
    path = _path(list(outputs))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"key": compile_key, "outputs": trees, "report": report, "summary": list(summary)}, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # a stamp only saves time
