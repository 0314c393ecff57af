"""``--values`` specifications: which numeric field of which map becomes which Prometheus series.

Grammar (words are case-sensitive, spaces separate them)::

    MAP[:FIELD] as METRIC [counter|gauge] [by PATH=LABEL[,PATH=LABEL ...]] [per-cpu]

- ``MAP`` is a map name (series survive a reload that changes the id); ``FIELD`` is ``value`` (the whole
  value, the default) or a dotted path into the value's struct (``value.stats.bytes`` or ``stats.bytes``).
- ``METRIC`` is the series name; a counter's name must end in ``_total`` (Prometheus convention).
- ``by`` names the labels: ``key`` is the whole decoded key, ``key.FIELD`` one field of a struct key. Without
  ``by``, an integer key becomes label ``key`` and a struct key gives one label per (flattened) field.
- ``per-cpu`` keeps a per-CPU map's values apart with a ``cpu`` label; without it they are summed.

Example: ``demo_pcpu_calls:value as syscall_calls_total counter by key=syscall``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mapexplorer.errors import UserError

_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_0-9]+)*\Z")
RESERVED_LABELS = frozenset({"map", "id", "cpu"})


@dataclass(frozen=True, slots=True)
class ValueSpec:
    """One parsed ``--values`` argument."""

    map_name: str
    field: tuple[str, ...]
    """Path into the decoded value; empty for the whole value."""
    metric: str
    kind: str
    """``counter`` or ``gauge``."""
    labels: tuple[tuple[str, tuple[str, ...]], ...]
    """(label name, path into the decoded key: () is the whole key); empty: derived from the key type."""
    per_cpu: bool
    text: str


def _path(text: str, root: str, what: str) -> tuple[str, ...]:
    if not _PATH.match(text):
        raise UserError(f"--values: {what} {text!r} is not a dotted field path")
    parts = tuple(text.split("."))
    return parts[1:] if parts[0] == root else parts


def parse_value_spec(text: str) -> ValueSpec:
    """Parse one ``--values`` argument.

    Raises:
        UserError: the text does not follow the grammar above (the message says what is wrong).
    """
    words = text.split()
    if len(words) < 3 or words[1] != "as":
        raise UserError(f"--values {text!r}: expected 'MAP[:FIELD] as METRIC [counter|gauge] [by ...]'")
    target, metric, rest = words[0], words[2], words[3:]
    map_name, _, field_text = target.partition(":")
    if not map_name:
        raise UserError(f"--values {text!r}: no map name before ':'")
    field = _path(field_text, "value", "field") if field_text else ()
    if not _METRIC.match(metric):
        raise UserError(f"--values {text!r}: {metric!r} is not a valid Prometheus metric name")
    kind = "gauge"
    if rest and rest[0] in ("counter", "gauge"):
        kind = rest.pop(0)
    if kind == "counter" and not metric.endswith("_total"):
        raise UserError(f"--values {text!r}: a counter's name ends in _total ({metric}_total)")
    if kind == "gauge" and metric.endswith("_total"):
        raise UserError(f"--values {text!r}: {metric} ends in _total but is a gauge (add 'counter')")
    labels: list[tuple[str, tuple[str, ...]]] = []
    per_cpu = False
    while rest:
        word = rest.pop(0)
        if word == "per-cpu":
            per_cpu = True
        elif word == "by" and rest:
            for item in rest.pop(0).split(","):
                path, eq, name = item.partition("=")
                if not eq:
                    name = path.removeprefix("key.").replace(".", "_")
                if not _LABEL.match(name) or name.startswith("__") or name in RESERVED_LABELS:
                    raise UserError(f"--values {text!r}: {name!r} cannot be a label name")
                if path != "key" and not path.startswith("key."):
                    raise UserError(f"--values {text!r}: label {name} must come from 'key' or 'key.FIELD'")
                labels.append((name, _path(path, "key", "key field") if path != "key" else ()))
        else:
            raise UserError(f"--values {text!r}: unexpected {word!r}")
    return ValueSpec(map_name, field, metric, kind, tuple(labels), per_cpu, text)
