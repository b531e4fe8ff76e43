"""Generated code is laid out the way black leaves it, without black doing the
work: checked against black itself on every generated file of the corpus."""

from __future__ import annotations

import ast

import black
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orch.backends.airflow import AirflowBackend
from orch.backends.dagster import DagsterBackend
from orch.compiler import codegen, pyfmt
from orch.compiler.driver import BuildOptions, build
from tests.test_monitor_backends import SUPPORTED

MODE = black.Mode(target_versions={black.TargetVersion.PY311}, line_length=100)


@pytest.mark.parametrize("value", ["plain", "it's", 'say "hi"', "it's \"both\"", "'\"'\"", "back\\slash'\"",
                                   "new\nline", "tab\t", "ünïcödé ✓", ""])
def test_string_literals_match_black(value):
    literal = pyfmt.pystr(value)
    assert ast.literal_eval(literal) == value
    assert black.format_str(f"x = {literal}\n", mode=MODE) == f"x = {literal}\n"


def test_fits_stays_flat_and_long_explodes_with_magic_commas():
    short = "x = f(a=1, b=[1, 2], c={'k': 'v'})\n"
    assert codegen.format_python(short) == 'x = f(a=1, b=[1, 2], c={"k": "v"})\n'
    long = "x = f(" + ", ".join(f"arg_{i}={list(range(i))!r}" for i in range(12)) + ")\n"
    out = codegen.format_python(long)
    assert out.splitlines()[0] == "x = f(" and out.splitlines()[-1] == ")"
    assert all(line.endswith((",", "(", "[")) for line in out.splitlines()[1:-1])
    assert black.format_str(out, mode=MODE) == out
    assert ast.dump(ast.parse(out)) == ast.dump(ast.parse(long))


def test_what_it_cannot_lay_out_goes_to_black():
    source = ("def f(a,b):\n  return (a,\n b)\nx = [i for i in range(3)]  # kept\ny = a.b(c).d(" +
              ", ".join(f"'{'v' * 20}{i}'" for i in range(6)) + ")\n")
    out = codegen.format_python(source)
    assert out == black.format_str(source, mode=MODE)


def _generated(path, cls, options):
    """Every (compact source, formatted file) a backend produces for a manifest."""
    pairs = []
    original = codegen.format_python

    def spy(source, prebuilt=None):
        out = original(source, prebuilt)
        # Nodes a backend built itself stand in the source by name; their flat form is Python too.
        for name, node in (prebuilt.nodes.items() if prebuilt else ()):
            source = source.replace(name, pyfmt._flat(node))
        pairs.append((source, out))
        return out

    # Every module of a backend that formats what it writes.
    from orch import backends
    from orch.backends import airflow
    from orch.backends.dagster import package
    patched = [(m, m.format_python) for m in (backends, airflow, package)]
    for module, _ in patched:
        module.format_python = spy
    try:
        project, _ = build([str(path)], BuildOptions())
        cls(options).emit(project, "manifest.json")
    finally:
        for module, fn in patched:
            module.format_python = fn
    return pairs


@pytest.mark.parametrize("path", SUPPORTED, ids=lambda p: p.name.removesuffix(".json.gz"))
def test_generated_files_are_black_stable_and_mean_what_was_generated(path):
    for cls, options in ((AirflowBackend, {"conn_id": "warehouse"}), (DagsterBackend, {})):
        for source, out in _generated(path, cls, options):
            assert black.format_str(out, mode=MODE) == out, (cls.name, out[:2000])
            assert ast.dump(ast.parse(out)) == ast.dump(ast.parse(source))


_NAME = st.builds(lambda n: "t" + "_" * n, st.sampled_from([0, 4, 19, 39, 59, 84, 89, 98])) | st.from_regex(
    r"\At[a-z_]{0,95}\Z")


@settings(max_examples=600, deadline=None)
@given(st.lists(_NAME, min_size=1, max_size=6), _NAME, st.booleans(), st.sampled_from([0, 1, 2]))
def test_long_edges_are_laid_out_as_black_would(names, other, list_first, depth):
    """`[a, b] >> c` and `a >> [b, c]` of every length, laid out by pyfmt where it
    can (the rest goes to black); the result is always black's."""
    chain = f"[{', '.join(names)}] >> {other}" if list_first else f"{other} >> [{', '.join(names)}]"
    source = "".join(f"{'    ' * i}with x{i}:\n" for i in range(depth)) + "    " * depth + chain + "\n"
    assert codegen.format_python(source) == black.format_str(source, mode=MODE)


def test_long_edges_are_mostly_laid_out_without_black():
    source = "with dag:\n    [first_model_of_the_pipeline, wait_for_dbt_staging_daily] >> " \
             "test_relationships_fct_model_2525_id__id__ref_stg_model_2597_\n"
    skeleton, blocks = pyfmt.split(source)
    assert blocks and "__orch_block_" in skeleton
    assert codegen.format_python(source) == black.format_str(source, mode=MODE)
