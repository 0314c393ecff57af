"""``--values`` specification parsing: the grammar of docs/prometheus.md, and one-line errors."""

from __future__ import annotations

import pytest

from mapexplorer.errors import UserError
from mapexplorer.export.spec import parse_value_spec


def test_issue_example() -> None:
    s = parse_value_spec("demo_pcpu_calls:value as syscall_calls_total counter by key=syscall")
    assert (s.map_name, s.field, s.metric, s.kind) == (
        "demo_pcpu_calls",
        (),
        "syscall_calls_total",
        "counter",
    )
    assert s.labels == (("syscall", ()),)
    assert not s.per_cpu


def test_struct_paths_default_label_names_and_per_cpu() -> None:
    s = parse_value_spec("flows:value.stats.bytes as flow_bytes gauge by key.pid,key.comm=command per-cpu")
    assert s.field == ("stats", "bytes")
    assert s.labels == (("pid", ("pid",)), ("command", ("comm",)))
    assert s.per_cpu and s.kind == "gauge"
    assert parse_value_spec("flows:bytes as flow_bytes").field == ("bytes",)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("m as x_total", "gauge"),
        ("m as x counter", "_total"),
        ("m as 9x", "metric name"),
        ("m x", "expected"),
        (":v as x", "no map name"),
        ("m as x by key=cpu", "label"),
        ("m as x by value=v", "must come from"),
        ("m as x sideways", "unexpected"),
        ("m:a..b as x", "field path"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(UserError, match=says):
        parse_value_spec(text)
