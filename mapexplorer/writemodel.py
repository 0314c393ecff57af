"""Values that describe a write, shared by the write engine (:mod:`mapexplorer.edit`), the sources and the UI:
requests, plans (before / after / changed fields), results, edit forms. Pure data: no kernel, no BTF, no
textual, so widgets can import it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class WriteError(Exception):
    """A write the kernel (or the map's type) refused, or a request that cannot be made; one line."""

    def __init__(self, message: str, errno_: int = 0) -> None:
        super().__init__(message)
        self.errno = errno_


@dataclass(frozen=True, slots=True)
class Change:
    """One field that differs: ``path`` as ``value.stats.count`` or ``cpu1``, old and new decoded."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """What the user asked for: ``op`` is update, delete, push or pop; texts as typed (dump's JSON shape)."""

    op: str
    map_id: int
    key: bytes | None = None
    key_text: str | None = None
    """The key typed by the user (``add``), used when ``key`` is None."""
    value_text: str | None = None
    cpu: int | None = None
    all_cpus: bool = False
    mode: int = 0
    """BPF_ANY (0), BPF_NOEXIST (1) or BPF_EXIST (2)."""
    seen: bytes | None = None
    """The value as the user saw it when the form opened (to show what changed meanwhile)."""


@dataclass(frozen=True, slots=True)
class WritePlan:
    """A write prepared and shown, not yet done. Immutable: safe to hand from a worker to the UI.

    ``before`` / ``after`` are raw bytes (whole per-CPU buffers); ``*_json`` their decoded form (per-CPU: a
    list with one value per CPU); ``after`` is None for delete and pop. ``changed_meanwhile`` lists fields
    that differ between what the user saw (``WriteRequest.seen``) and what was read for this plan.
    """

    op: str
    map_id: int
    map_name: str
    type_name: str
    key: bytes | None
    key_json: Any
    before: bytes | None
    after: bytes | None
    before_json: Any
    after_json: Any
    changes: tuple[Change, ...]
    flags: int
    value_text: str | None = None
    cpu: int | None = None
    all_cpus: bool = False
    percpu: bool = False
    read_at: float = 0.0
    """``time.monotonic()`` when ``before`` was read."""
    note: str = ""
    changed_meanwhile: tuple[Change, ...] = ()

    @property
    def title(self) -> str:
        what = {"update": "update", "delete": "delete", "push": "push onto", "pop": "pop from"}[self.op]
        key = "" if self.key is None else f" key {short(self.key_json)}"
        return f"{what} map {self.map_id} ({self.map_name}){key}"

    def age_ms(self) -> float:
        """Milliseconds since ``before`` was read."""
        return (time.monotonic() - self.read_at) * 1000


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did: the value removed (delete/pop), the entry read back after, a one-line message."""

    plan: WritePlan
    message: str
    after: bytes | None = None
    after_json: Any = None
    removed_json: Any = None
    note: str = ""
    changes: tuple[Change, ...] = field(default=())
    before_json: Any = None
    """update: the value read again just before the write (what ``changes`` compare with ``after``)."""


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of an edit form: a leaf of the value's BTF type.

    ``path`` is the leaf's place in the decoded value (``in.a``, ``arr[2]``; "" for a scalar value);
    ``kind`` is int, char, enum, bool, float, string (char array), json (anything else, typed as JSON) or
    raw (a value without BTF: an integer or ``hex 01 02 ..``).
    """

    path: str
    c_type: str
    kind: str
    text: str
    """The current value as the input shows it."""
    choices: tuple[str, ...] = ()
    """Enumerator names (enums)."""


@dataclass(frozen=True, slots=True, eq=False)
class EditForm:
    """An edit (``update``), add (``add``: a new key) or push form, built by the source from the map's BTF.

    ``check(path, text)`` validates one field as typed (an error line, or None), without any syscall;
    ``check_key(text)`` does the same for the key of an add form.
    """

    op: str
    map_id: int
    map_name: str
    type_name: str
    value_c: str
    """The value's C type name (``struct proc_stats``), or ``N bytes`` without BTF."""
    fields: tuple[FormField, ...]
    check: Callable[[str, str], str | None] = field(repr=False)
    key: bytes | None = None
    key_text: str = ""
    key_c: str = ""
    check_key: Callable[[str], str | None] | None = field(default=None, repr=False)
    seen: bytes | None = None
    """The raw value when the form opened (whole per-CPU buffer)."""
    percpu: bool = False
    ncpus: int = 1
    cpu: int | None = None
    """Per-CPU maps: the CPU whose value the fields show (None: CPU 0's, written to all CPUs)."""
    cpu_texts: tuple[tuple[str, ...], ...] = ()
    """Per-CPU maps: each CPU's field texts (the form switches between them when the CPU changes)."""


def short(value: Any, limit: int = 60) -> str:
    """A decoded value as one short line of JSON (strings as they are)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a decoded value by path (``a.b``, ``a[2]``); a scalar is the one leaf ``prefix``. A byte list
    (``["0x01", ...]``, no BTF) is one leaf."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value and not all(isinstance(x, str) and x.startswith("0x")
                                                       for x in value):
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def diff(before: Any, after: Any, prefix: str = "value") -> tuple[Change, ...]:
    """The leaves that differ between two decoded values; a value appearing or going away is one change
    at ``prefix``. With ``prefix="cpu"`` the values are per-CPU lists and paths read ``cpu1.count``."""
    if before is None or after is None:
        return () if before is after else (Change(prefix, before, after),)
    if prefix == "cpu" and isinstance(before, list) and isinstance(after, list):
        out: list[Change] = []
        for c, (b, a) in enumerate(zip(before, after, strict=False)):
            out.extend(diff(b, a, f"cpu{c}"))
        return tuple(out)
    a = flatten(before, prefix)
    b = flatten(after, prefix)
    return tuple(Change(p, a.get(p), b.get(p)) for p in dict.fromkeys([*a, *b]) if a.get(p) != b.get(p))


def _split_path(path: str) -> list[str | int]:
    """``in.arr[2].x`` -> ["in", "arr", 2, "x"]."""
    parts: list[str | int] = []
    for dotted in path.split("."):
        name, *idx = dotted.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i.rstrip("]")) for i in idx)
    return parts


def field_value(f: FormField, text: str) -> Any:
    """What one input's text means as JSON for the encoder (which reads ints, enums, floats, bools from
    strings); ``json`` fields are parsed, and text that is not JSON stays text (the encoder says why)."""
    if f.kind == "json":
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text


def form_json(fields: tuple[FormField, ...] | list[FormField], texts: dict[str, str],
              all_texts: dict[str, str] | None = None) -> str:
    """The partial JSON value made of the fields in ``texts`` (path -> text): what the encoder merges into
    the current value. An array element drags its whole array along (the encoder writes arrays from index
    0): ``all_texts`` gives the other elements' texts."""
    by_path = {f.path: f for f in fields}
    if "" in texts and "" in by_path:  # a scalar value, or a whole value without BTF (typed as is)
        f = by_path[""]
        return texts[""] if f.kind == "raw" else json.dumps(field_value(f, texts[""]))
    chosen = dict(texts)
    all_texts = all_texts or {}
    for path in list(texts):
        parts = _split_path(path)
        for i, part in enumerate(parts):
            if isinstance(part, int):
                prefix = _join(parts[:i])
                for p, t in all_texts.items():
                    if p.startswith(prefix + "[") and p not in chosen:
                        chosen[p] = t
                break
    root: dict[str, Any] = {}
    for path, text in chosen.items():
        f = by_path.get(path)
        if f is None:
            continue
        _put(root, _split_path(path), field_value(f, text))
    return json.dumps(_lists(root))


def _join(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _put(node: dict[Any, Any], parts: list[str | int], value: Any) -> None:
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def _lists(node: Any) -> Any:
    """Dicts keyed by ints become lists (indices 0..n-1 present)."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_lists(node[i]) for i in sorted(node)]
    return {k: _lists(v) for k, v in node.items()}
