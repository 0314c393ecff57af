"""Series for one ``--values`` spec: a map's numeric field per key, with the key decoded by BTF into labels.

A :class:`ValueReader` is built once per (spec, map id) and reused every interval: key labels are cached by
the key's bytes, and a field that is a plain integer is read straight out of the batch buffers with one
``struct.iter_unpack`` per chunk (no per-entry decoding); other fields go through the map's BTF decoder.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from mapexplorer.btf.types import ENUM, ENUM64, INT, STRUCT, UNION, Btf, BtfError
from mapexplorer.codec import MapCodec, map_codec
from mapexplorer.errors import UserError
from mapexplorer.export.spec import ValueSpec
from mapexplorer.kernel.maps import EntryChunk, Map, MapInfo, possible_cpu_count, round_up8

_INT_FORMATS = {1: "b", 2: "h", 4: "i", 8: "q"}
Labels = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ValueSeries:
    """One spec's series as read at one interval."""

    spec: ValueSpec
    map_id: int
    label_names: tuple[str, ...]
    samples: tuple[tuple[Labels, float], ...]
    dropped: int
    """Series beyond the cardinality limit, not exported this interval."""


def label_text(v: Any) -> str:
    """A decoded key field as a label value (enums are already names, char arrays strings)."""
    if isinstance(v, list):
        return ",".join(label_text(x) for x in v)
    if isinstance(v, dict):
        return ",".join(f"{k}={label_text(x)}" for k, x in v.items())
    return str(v)


def _walk(v: Any, path: tuple[str, ...], what: str) -> Any:
    for part in path:
        if isinstance(v, dict) and part in v:
            v = v[part]
        elif isinstance(v, list) and part.isdigit() and int(part) < len(v):
            v = v[int(part)]
        else:
            raise UserError(f"{what} has no field {'.'.join(path)!r}")
    return v


def _flatten(v: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _flatten(x, (*prefix, k))
    else:
        yield prefix


def _int_field(btf: Btf, type_id: int, path: tuple[str, ...]) -> tuple[int, str] | None:
    """(byte offset, struct format) of a plain integer at ``path`` inside ``type_id``; None when the field
    is a bitfield, a float, an array element or anything else that needs the full decoder."""
    offset = 0
    tid = btf.resolve(type_id)
    for part in path:
        t = btf.type(tid)
        if t.kind not in (STRUCT, UNION):
            return None
        try:
            _, m = btf.member(tid, part)
        except BtfError:
            return None
        if m.bitfield_size or m.bit_offset % 8:
            return None
        offset += m.bit_offset // 8
        tid = btf.resolve(m.type)
    t = btf.type(tid)
    if t.kind == INT and t.bits == t.size * 8 and t.size in _INT_FORMATS and not t.int_offset:
        fmt = _INT_FORMATS[t.size]
        return offset, fmt if t.signed else fmt.upper()
    if t.kind in (ENUM, ENUM64) and t.size in _INT_FORMATS:
        return offset, _INT_FORMATS[t.size].upper()
    return None


class ValueReader:
    """Reads the series of one spec from one map (by id), reusing decoded key labels between reads.

    Raises (from the constructor):
        UserError: the spec's field or labels do not fit the map (no BTF for a struct path, ...).
    """

    def __init__(self, spec: ValueSpec, info: MapInfo, max_series: int) -> None:
        if not info.iterable:
            raise UserError(f"--values {spec.map_name}: a {info.type_name} map has no entries to export")
        self.spec = spec
        self.info = info
        self.max_series = max_series
        self.codec: MapCodec = map_codec(info)
        self.ncpus = possible_cpu_count() if info.percpu else 1
        self._label_paths: tuple[tuple[str, tuple[str, ...]], ...] | None = spec.labels or None
        self._key_cache: dict[bytes, Labels] = {}
        self._fast = self._fast_unpacker()

    # -- fields ------------------------------------------------------------------------------------

    def _fast_unpacker(self) -> struct.Struct | None:
        codec, info = self.codec, self.info
        if codec.id_values:
            return None
        if codec.value_btf is not None and codec.value_type:
            field = _int_field(codec.value_btf, codec.value_type, self.spec.field)
        elif not self.spec.field and info.value_size in _INT_FORMATS:
            field = (0, _INT_FORMATS[info.value_size].upper())  # no BTF: an unsigned counter
        else:
            field = None
        if field is None:
            return None
        offset, fmt = field
        slot = round_up8(info.value_size) if info.percpu else info.value_size
        tail = slot - offset - struct.calcsize(fmt)
        one = f"{offset}x{fmt}{tail}x" if tail else f"{offset}x{fmt}"
        return struct.Struct("<" + one * self.ncpus)

    def _slow_values(self, value: bytes) -> tuple[float, ...]:
        codec = self.codec
        decoded = codec.decode_percpu(value) if self.info.percpu else [codec.decode_value(value)]
        out = []
        for v in decoded:
            x = _walk(v, self.spec.field, f"map {self.info.name} value")
            if isinstance(x, bool) or not isinstance(x, int | float):
                raise UserError(
                    f"--values {self.spec.map_name}: field {'.'.join(self.spec.field) or 'value'} "
                    f"is not a number ({type(x).__name__})"
                )
            out.append(float(x))
        return tuple(out)

    def _chunk_values(self, chunk: EntryChunk) -> Iterator[tuple[float, ...]]:
        if self._fast is not None and chunk.stride == self._fast.size:
            return self._fast.iter_unpack(chunk.values)
        return (self._slow_values(v) for _, v in chunk.pairs())

    # -- labels ------------------------------------------------------------------------------------

    def label_names(self) -> tuple[str, ...]:
        cpu = ("cpu",) if self.spec.per_cpu and self.info.percpu else ()
        return (*(name for name, _ in self._label_paths or ()), *cpu)

    def _labels(self, key: bytes) -> Labels:
        labels = self._key_cache.get(key)
        if labels is None:
            decoded = self.codec.decode_key(key)
            if self._label_paths is None:
                paths = [p for p in _flatten(decoded)]
                self._label_paths = tuple(("_".join(p) if p else "key", p) for p in paths)
            labels = tuple(
                label_text(_walk(decoded, path, f"map {self.info.name} key")) for _, path in self._label_paths
            )
            self._key_cache[key] = labels
        return labels

    # -- reading -----------------------------------------------------------------------------------

    def read(self, m: Map) -> ValueSeries:
        """Every series of this spec from the open map ``m`` (the same map this reader was built for)."""
        labels_out: list[Labels] = []
        values_out: list[float] = []
        per_cpu = self.spec.per_cpu and self.info.percpu
        width = self.ncpus if per_cpu else 1
        room, dropped = self.max_series // width, 0
        cache_get, labels_of = self._key_cache.get, self._labels
        for chunk in m.read_chunks():
            n = min(chunk.count, room)
            dropped += (chunk.count - n) * width
            room -= n
            if not n:
                continue
            ks, keys = chunk.key_size, chunk.keys
            labels = [cache_get(k) or labels_of(k) for k in (keys[i : i + ks] for i in range(0, n * ks, ks))]
            values = list(islice(self._chunk_values(chunk), n))
            if per_cpu:
                for lab, vals in zip(labels, values, strict=True):
                    labels_out.extend((*lab, str(cpu)) for cpu in range(len(vals)))
                    values_out.extend(vals)
            else:
                labels_out.extend(labels)
                values_out.extend(v[0] if len(v) == 1 else sum(v) for v in values)
        if len(self._key_cache) > 2 * self.max_series:
            self._key_cache.clear()  # keys churned: rebuild from what the next read sees
        samples = tuple(zip(labels_out, map(float, values_out), strict=True))
        return ValueSeries(self.spec, self.info.id, self.label_names(), samples, dropped)
