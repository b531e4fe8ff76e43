"""IR <-> JSON: exact round trips, and loud failures on documents orch cannot read."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orch.compiler import ir, serde

text = st.text(max_size=12)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.0123456789", min_size=1, max_size=16)
maybe = lambda s: st.none() | s  # noqa: E731
seconds = st.integers(min_value=-10**7, max_value=10**8).map(lambda s: timedelta(seconds=s))
tuples = lambda s: st.lists(s, max_size=3).map(tuple)  # noqa: E731

locations = st.builds(
    ir.Location,
    path=maybe(text),
    line=maybe(st.integers(1, 10**6)),
    col=maybe(st.integers(1, 500)),
    unique_id=maybe(names),
)
relations = st.builds(ir.Relation, database=maybe(names), schema=maybe(names), name=names, engine=maybe(names))
schedules = st.builds(ir.Schedule, cron=st.sampled_from(["@daily", "0 * * * *", "*/10 * * * *"]),
                      timezone=st.sampled_from(["UTC", "Europe/Berlin"]))
runners = st.one_of(
    st.builds(ir.DbtBuild, select=names, project_dir=text, profiles_dir=maybe(text), target=maybe(names)),
    st.builds(ir.SqlmeshRun, model=names, project_dir=text),
    st.builds(ir.SqlQuery, sql=text, dialect=st.sampled_from(["bigquery", "duckdb"]),
              destination=maybe(relations), write_mode=st.sampled_from(["truncate", "append", "merge", "view"]),
              unique_key=tuples(names), connection=maybe(names)),
    st.builds(ir.Command, argv=tuples(text)),
)
assets = st.builds(
    ir.Asset,
    key=names,
    name=names,
    kind=st.sampled_from(ir.AssetKind),
    origin=locations,
    relation=maybe(relations),
    upstream=tuples(names),
    runner=maybe(runners),
    materialization=maybe(names),
    unique_key=tuples(names),
    partitioning=maybe(st.builds(ir.Partitioning, field=names, data_type=names, granularity=maybe(names),
                                 start=maybe(st.dates()))),
    freshness=maybe(st.builds(ir.Freshness, timestamp_column=maybe(names), max_age=maybe(seconds),
                              warn_age=maybe(seconds))),
    schedule=maybe(schedules),
    sla=maybe(st.builds(ir.Sla, complete_within=seconds, critical=st.booleans())),
    owner=maybe(text),
    tags=tuples(text),
    critical=st.booleans(),
    description=maybe(text),
    layer=maybe(names),
    path=maybe(text),
    package=maybe(names),
    columns=tuples(names),
    compiled_sql=maybe(text),
    retries=maybe(st.integers(0, 10)),
    retry_delay=maybe(seconds),
)
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | text | st.floats(allow_nan=False)
checks = st.builds(
    ir.Check,
    key=names,
    name=names,
    asset=names,
    origin=locations,
    params=st.one_of(
        st.builds(ir.FreshnessParams, column=names, max_age_seconds=st.integers(0, 10**9)),
        st.builds(ir.RowCountParams, min_rows=st.integers(0, 10**9), partition_column=maybe(names),
                  lookback_days=maybe(st.integers(1, 400))),
        st.builds(ir.CustomSqlParams, sql=text),
        st.builds(ir.DbtTestParams, test=names, column=maybe(names), dbt_select=names),
        st.builds(ir.SqlmeshAuditParams, args=tuples(st.builds(ir.Param, name=names, value=scalars))),
    ),
    severity=st.sampled_from(ir.Severity),
    blocking=st.booleans(),
    also=tuples(names),
)
pipelines = st.builds(
    ir.Pipeline,
    name=names,
    schedule=schedules,
    assets=tuples(names),
    inputs=tuples(names),
    sla=maybe(st.builds(ir.Sla, complete_within=seconds, critical=st.booleans())),
    owner=maybe(text),
    tags=tuples(text),
    origin=maybe(locations),
)
projects = st.builds(ir.Project, name=names, assets=tuples(assets), pipelines=tuples(pipelines),
                     checks=tuples(checks))


@settings(max_examples=300, deadline=None)
@given(projects)
def test_ir_json_round_trips_exactly(project):
    text_form = serde.dumps(project)
    again = serde.loads(text_form)
    assert again == project
    assert serde.dumps(again) == text_form


def _document(project: ir.Project) -> dict:
    return json.loads(serde.dumps(project))


SAMPLE = ir.Project(
    name="p",
    assets=(
        ir.Asset(key="a", name="a", kind=ir.AssetKind.MODEL, origin=ir.Location(unique_id="model.p.a"),
                 runner=ir.DbtBuild(select="p.a", project_dir=".")),
    ),
)


def test_unknown_keys_are_rejected():
    doc = _document(SAMPLE)
    doc["project"]["assets"][0]["colour"] = "red"
    with pytest.raises(serde.IrFormatError, match="colour"):
        serde.from_dict(doc)


def test_unknown_runner_type_is_rejected():
    doc = _document(SAMPLE)
    doc["project"]["assets"][0]["runner"]["type"] = "spark_submit"
    with pytest.raises(serde.IrFormatError):
        serde.from_dict(doc)


def test_format_version_is_checked():
    doc = _document(SAMPLE)
    doc["format_version"] = 99
    with pytest.raises(serde.IrFormatError, match="version 99"):
        serde.from_dict(doc)


def test_runner_is_tagged_and_durations_are_seconds():
    project = ir.Project(
        name="p",
        assets=(
            ir.Asset(key="a", name="a", kind=ir.AssetKind.MODEL, origin=ir.Location(),
                     runner=ir.Command(argv=("echo", "hi")),
                     sla=ir.Sla(complete_within=timedelta(hours=2))),
        ),
    )
    asset = _document(project)["project"]["assets"][0]
    assert asset["runner"] == {"type": "command", "argv": ["echo", "hi"]}
    assert asset["sla"] == {"complete_within": 7200}


def test_sub_second_durations_are_refused():
    project = ir.Project(
        name="p",
        assets=(ir.Asset(key="a", name="a", kind=ir.AssetKind.MODEL, origin=ir.Location(),
                         sla=ir.Sla(complete_within=timedelta(milliseconds=5))),),
    )
    with pytest.raises(ValueError, match="whole seconds"):
        serde.dumps(project)
