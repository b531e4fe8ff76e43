"""A real `orch compile` into five target folders, killed with SIGKILL at points
across its write, and run twice at once: the output folder is always all of
one compile, never a mix of two (Airflow and Dagster watch these folders)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from orch.compiler import codegen
from tests.conftest import BIN, ROOT, orch, snapshot_tree

TARGETS = ("airflow", "dagster", "health", "sla", "ir")

# Runs the real CLI with every filesystem step of the writer counted; at step
# ORCH_KILL_AT the process SIGKILLs itself, so each kill lands on a known
# step instead of wherever the scheduler happens to put it.
_KILLED_COMPILE = textwrap.dedent(
    """
    import builtins, os, shutil, signal, sys
    from orch.compiler import cli, codegen

    limit, steps = int(os.environ["ORCH_KILL_AT"]), [0]

    def counted(fn):
        def step(*args, **kwargs):
            steps[0] += 1
            if steps[0] == limit:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)
        return step

    for name in ("replace", "unlink", "rmdir", "makedirs", "fsync"):
        setattr(os, name, counted(getattr(os, name)))
    shutil.rmtree = counted(shutil.rmtree)
    codegen.open = counted(builtins.open)
    status = cli.main(sys.argv[1:])
    with builtins.open(os.environ["ORCH_STEPS_FILE"], "w") as fh:
        fh.write(str(steps[0]))
    sys.exit(status)
    """
)


def _args(manifest: Path, out: Path, schedule: str) -> list[str]:
    args = ["compile", str(manifest), "-o", str(out), "--schedule", schedule,
            "-O", f"duckdb_path=warehouse-{schedule.strip('@')}.duckdb"]
    for target in TARGETS:
        args += ["-t", target]
    return args


@pytest.fixture(scope="module")
def outputs(example_manifest, tmp_path_factory):
    """The folder after a compile with each of two settings that change every target."""
    base = tmp_path_factory.mktemp("crash")
    refs = {}
    for schedule in ("@daily", "@hourly"):
        out = base / schedule.strip("@")
        result = orch(*_args(example_manifest, out, schedule))
        assert result.returncode == 0, result.stderr
        refs[schedule] = snapshot_tree(out)
    daily, hourly = refs["@daily"], refs["@hourly"]
    changed = [k for k in daily.keys() | hourly.keys() if daily.get(k) != hourly.get(k)]
    assert {k.split("/")[0] for k in changed} == set(TARGETS), "every target must differ, or a mix is invisible"
    return refs


def _restore(out: Path, tree: dict[str, bytes]) -> None:
    shutil.rmtree(out, ignore_errors=True)
    for rel, data in tree.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)


def _killed_compile(manifest: Path, out: Path, kill_at: int, steps_file: Path):
    env = dict(os.environ, ORCH_KILL_AT=str(kill_at), ORCH_STEPS_FILE=str(steps_file), NO_COLOR="1")
    return subprocess.run([sys.executable, "-c", _KILLED_COMPILE, *_args(manifest, out, "@hourly")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_sigkill_at_each_write_step_leaves_old_or_new(example_manifest, outputs, tmp_path):
    old, new = outputs["@daily"], outputs["@hourly"]
    out, steps_file = tmp_path / "out", tmp_path / "steps"
    staging, _ = codegen._side_paths(str(out))

    # Counted on the second run: the first leaves a compile stamp, which every
    # later run reads (and counts the reads of) before deciding to write.
    for _ in range(2):
        _restore(out, old)
        assert _killed_compile(example_manifest, out, 0, steps_file).returncode == 0
        assert snapshot_tree(out) == new
    total = int(steps_file.read_text())
    assert total > 40, "the writer must do its work in many steps, or killing between them proves little"

    rng = random.Random(20261129)
    points = sorted({1, 2, total - 2, total - 1, total, *rng.sample(range(3, total - 2), 30)})
    seen = {"old": 0, "committed": 0, "new": 0}
    for kill_at in points:
        _restore(out, old)
        result = _killed_compile(example_manifest, out, kill_at, steps_file)
        assert result.returncode == -signal.SIGKILL, (kill_at, result.stderr)
        committed = os.path.exists(os.path.join(staging, "journal.json"))
        tree = snapshot_tree(out)
        if not os.path.exists(staging) or not os.listdir(staging):
            # No staging folder, or the empty one the last cleanup step leaves.
            assert tree in (old, new), f"kill at step {kill_at} of {total} left a mix"
            seen["new" if tree == new else "old"] += 1
        elif not committed:
            assert tree == old, f"kill at step {kill_at} before the commit changed the folder"
            seen["old"] += 1
        else:
            seen["committed"] += 1
        # The next compile recovers first: a committed write is finished, anything else dropped.
        codegen.recover(str(out))
        assert snapshot_tree(out) == (new if committed else tree)
        assert not os.path.exists(staging)
    assert all(seen.values()), seen
    # And a real compile after a kill mid-commit ends with exactly the new output.
    _restore(out, old)
    kill_mid = next(k for k in range(total, 0, -1) if k in points and k < total - 3)
    _killed_compile(example_manifest, out, kill_mid, steps_file)
    assert orch(*_args(example_manifest, out, "@hourly")).returncode == 0
    assert snapshot_tree(out) == new


def test_sigkill_at_random_times_leaves_old_or_new(example_manifest, outputs, tmp_path):
    old, new = outputs["@daily"], outputs["@hourly"]
    out = tmp_path / "out"
    rng = random.Random(7)
    _restore(out, old)
    started = time.monotonic()
    assert orch(*_args(example_manifest, out, "@hourly")).returncode == 0
    duration = time.monotonic() - started
    for _ in range(6):
        _restore(out, old)
        proc = subprocess.Popen([str(BIN / "orch"), *_args(example_manifest, out, "@hourly")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 1.0) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        codegen.recover(str(out))
        assert snapshot_tree(out) in (old, new)


def test_two_compiles_at_once_leave_one_whole_output(example_manifest, outputs, tmp_path):
    out = tmp_path / "out"
    for delay in (0.0, 0.05, 0.2):
        shutil.rmtree(out, ignore_errors=True)
        first = subprocess.Popen([str(BIN / "orch"), *_args(example_manifest, out, "@daily")],
                                 stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        second = subprocess.Popen([str(BIN / "orch"), *_args(example_manifest, out, "@hourly")],
                                  stderr=subprocess.PIPE, text=True)
        assert first.wait(timeout=300) == 0, first.stderr.read()
        assert second.wait(timeout=300) == 0, second.stderr.read()
        assert snapshot_tree(out) in (outputs["@daily"], outputs["@hourly"])

