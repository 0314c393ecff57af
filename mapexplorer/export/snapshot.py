"""What one export interval reads from the kernel: every map's facts, entry counts and ringbuf backlog, the
programs (with run stats when they are on) and the ``--values`` series, as one immutable snapshot.

:class:`SnapshotTaker` keeps what is worth keeping between intervals (value readers with their key-label
caches, one per spec and map id); :meth:`SnapshotTaker.take` is called by the exporter's poller thread only,
never by a scrape.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

from mapexplorer.errors import UserError
from mapexplorer.export.spec import ValueSpec
from mapexplorer.export.values import ValueReader, ValueSeries
from mapexplorer.kernel import health, maps, progs
from mapexplorer.kernel.health import EntryCount
from mapexplorer.kernel.inventory import Inventory, MapRecord

log = logging.getLogger("mapexplorer.export")


@dataclass(frozen=True, slots=True)
class MapSample:
    """One map's facts for the always-exported series."""

    id: int
    name: str
    type: str
    owner: str
    pinned: str
    entries: int | None
    max_entries: int
    memlock: int
    backlog_ratio: float | None
    duplicate_name: bool
    """Another live map has the same name: its series carry an ``id`` label."""


@dataclass(frozen=True, slots=True)
class ProgSample:
    id: int
    name: str
    type: str
    tag: str
    run_cnt: int | None
    run_time_ns: int | None
    """Both None unless run stats are on (``--prog-stats``)."""


@dataclass(frozen=True, slots=True)
class ExportSnapshot:
    """Everything one scrape serves."""

    taken_monotonic: float
    duration_s: float
    maps: tuple[MapSample, ...]
    progs: tuple[ProgSample, ...]
    values: tuple[ValueSeries, ...]
    dropped_series_total: int
    read_errors_total: int
    snapshots_total: int
    """Kernel reads so far (scrapes never add to it)."""


def _map_sample(r: MapRecord, count: EntryCount | None, duplicate: bool) -> MapSample:
    i = r.info
    ring = i.type_name in health.RING_TYPES
    return MapSample(
        id=i.id,
        name=i.name,
        type=i.type_name,
        owner=",".join(sorted({o.comm for o in r.owners})),
        pinned=",".join(r.pinned),
        entries=None if count is None or ring else count.entries,
        max_entries=i.max_entries,
        memlock=i.memlock,
        backlog_ratio=count.fill if count is not None and ring else None,
        duplicate_name=duplicate,
    )


class SnapshotTaker:
    """Builds :class:`ExportSnapshot` values; holds the per-map value readers between intervals."""

    def __init__(self, specs: list[ValueSpec], *, max_series: int, prog_stats: bool = False) -> None:
        self.specs = specs
        self.max_series = max_series
        self.prog_stats = prog_stats
        self._prog_names: dict[int, str] = {}
        self._readers: dict[tuple[int, int], ValueReader] = {}
        self._dropped_total = 0
        self._errors_total = 0
        self._taken = 0
        self._warned: set[str] = set()
        self._counter = health.Counter()
        self._inventory = Inventory()  # map facts kept between intervals, as the map list does

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)

    def _read_values(self, records: list[MapRecord]) -> list[ValueSeries]:
        by_name: dict[str, list[maps.MapInfo]] = {}
        for r in records:
            by_name.setdefault(r.info.name, []).append(r.info)
        out: list[ValueSeries] = []
        live: set[tuple[int, int]] = set()
        for n, spec in enumerate(self.specs):
            for info in by_name.get(spec.map_name, []):
                live.add((n, info.id))
                reader = self._readers.get((n, info.id))
                try:
                    if reader is None:
                        reader = self._readers[(n, info.id)] = ValueReader(spec, info, self.max_series)
                    with maps.Map.open(info.id) as m:
                        series = reader.read(m)
                except FileNotFoundError:
                    continue  # freed since the listing: its series drop out
                except UserError as exc:
                    self._warn_once(f"spec{n}:{info.id}", str(exc))
                    continue
                except OSError as exc:
                    self._errors_total += 1
                    self._warn_once(f"err{n}:{info.id}", f"map {info.id} ({info.name}): {exc.strerror}")
                    continue
                if series.dropped:
                    self._dropped_total += series.dropped
                    self._warn_once(
                        f"cap{n}:{info.id}",
                        f"--values {spec.map_name}: more than {self.max_series} series, the rest are dropped "
                        "(bpf_export_dropped_series_total counts them)",
                    )
                out.append(series)
        for gone in set(self._readers) - live:
            del self._readers[gone]
        return out

    def _full_name(self, p: progs.ProgInfo) -> str:
        name = self._prog_names.get(p.id)
        if name is None:
            try:
                name = progs.full_name_by_id(p.id) if p.name_truncated else p.name
            except OSError:
                name = p.name
            self._prog_names[p.id] = name
        return name

    def _progs(self) -> list[ProgSample]:
        stats = self.prog_stats
        out = [
            ProgSample(
                p.id,
                self._full_name(p),
                p.type_name,
                p.tag,
                p.run_cnt if stats else None,
                p.run_time_ns if stats else None,
            )
            for p in progs.all_progs(with_maps=False)
        ]
        alive = {p.id for p in out}
        for gone in [i for i in self._prog_names if i not in alive]:
            del self._prog_names[gone]
        return out

    def take(self) -> ExportSnapshot:
        """Read everything once (blocking: call from the poller thread)."""
        start = time.monotonic()
        records = self._inventory.collect()
        counts = self._counter.count(r.info for r in records)
        if self._counter.reason:
            self._warn_once("counts", f"entry counts by reading maps (no iterator: {self._counter.reason})")
        names = Counter(r.info.name for r in records)
        for name, n in names.items():
            if n > 1:
                self._warn_once(
                    f"dup:{name}", f"{n} live maps are named {name!r}: their series get an id label"
                )
        samples = tuple(_map_sample(r, counts.get(r.info.id), names[r.info.name] > 1) for r in records)
        values = tuple(self._read_values(records))
        prog_samples = tuple(self._progs())
        self._taken += 1
        return ExportSnapshot(
            taken_monotonic=time.monotonic(),
            duration_s=time.monotonic() - start,
            maps=samples,
            progs=prog_samples,
            values=values,
            dropped_series_total=self._dropped_total,
            read_errors_total=self._errors_total,
            snapshots_total=self._taken,
        )
