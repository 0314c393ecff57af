"""The Prometheus side of the exporter: a poller thread that takes a snapshot every interval, and a
``prometheus_client`` custom collector that turns the latest snapshot into metric families.

A scrape never touches the kernel: it renders the newest complete snapshot (its age is exported as
``bpf_export_snapshot_age_seconds``), so any number of concurrent scrapes cost one kernel read per interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mapexplorer.export.snapshot import ExportSnapshot, MapSample, SnapshotTaker

log = logging.getLogger("mapexplorer.export")

MAP_LABELS = ("map", "id", "type")


def map_labels(m: MapSample) -> list[str]:
    """Series are keyed by map name so they survive a reload that changes ids; the ``id`` label is only set
    (non-empty) when two live maps share a name. Prometheus treats an empty label as an absent one."""
    return [m.name, str(m.id) if m.duplicate_name else "", m.type]


class Poller:
    """Takes a snapshot every ``interval`` seconds in a daemon thread; :attr:`latest` is the newest one.

    Call :meth:`poll_once` before :meth:`start` (the thread's first read is one interval later).
    """

    def __init__(self, taker: SnapshotTaker, interval: float) -> None:
        self.taker = taker
        self.interval = interval
        self.latest: ExportSnapshot | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mapexplorer-export-poll", daemon=True)
        self.after_poll: list[Callable[[ExportSnapshot], None]] = []
        """Called in the poller thread after each new snapshot (the server pre-renders it)."""

    def poll_once(self) -> ExportSnapshot:
        snap = self.taker.take()
        self.latest = snap  # one reference swap: scrapes see the old or the new snapshot, never half
        self._ready.set()
        for hook in self.after_poll:
            hook(snap)
        return snap

    def _run(self) -> None:
        delay = self.interval  # start() follows a poll_once(): the next read is one interval later
        while not self._stop.wait(delay):
            started = time.monotonic()
            try:
                self.poll_once()
            except OSError as exc:
                log.warning("reading the kernel failed: %s", exc.strerror or exc)
            delay = max(0.0, self.interval - (time.monotonic() - started))

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


class SnapshotCollector(Collector):
    """Renders the poller's latest snapshot (everything but its age, which changes with every scrape:
    :class:`AgeCollector`); registered in a private registry by the export command."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller

    def describe(self) -> list[Metric]:
        return []  # families depend on the specs and the maps present: collected on scrape only

    def collect(self) -> Iterator[Metric]:
        snap = self.poller.latest
        if snap is None:
            return
        yield from map_families(snap)
        yield from prog_families(snap)
        yield from value_families(snap)
        yield from self_families(snap)


class AgeCollector(Collector):
    """``bpf_export_snapshot_age_seconds`` of the poller's latest snapshot, computed at scrape time."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        snap = self.poller.latest
        if snap is None:
            return
        age = GaugeMetricFamily(
            "bpf_export_snapshot_age_seconds", "Seconds since the served snapshot was read from the kernel"
        )
        age.add_metric([], time.monotonic() - snap.taken_monotonic)
        yield age


def map_families(snap: ExportSnapshot) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "bpf_map_info", "A live BPF map (always 1)", labels=[*MAP_LABELS, "map_id", "owner", "pinned"]
    )
    entries = GaugeMetricFamily("bpf_map_entries", "Entries the map holds", labels=MAP_LABELS)
    max_entries = GaugeMetricFamily("bpf_map_max_entries", "The map's max_entries", labels=MAP_LABELS)
    fill = GaugeMetricFamily("bpf_map_fill_ratio", "Entries over max_entries (0..1)", labels=MAP_LABELS)
    memlock = GaugeMetricFamily(
        "bpf_map_memlock_bytes", "Memory the kernel charges for the map", labels=MAP_LABELS
    )
    backlog = GaugeMetricFamily(
        "bpf_ringbuf_backlog_ratio", "Unconsumed bytes of a ringbuf over its size (0..1)", labels=MAP_LABELS
    )
    for m in snap.maps:
        labels = map_labels(m)
        info.add_metric([*labels, str(m.id), m.owner, m.pinned], 1)
        max_entries.add_metric(labels, m.max_entries)
        memlock.add_metric(labels, m.memlock)
        if m.entries is not None:
            entries.add_metric(labels, m.entries)
            if m.max_entries:
                fill.add_metric(labels, m.entries / m.max_entries)
        if m.backlog_ratio is not None:
            backlog.add_metric(labels, m.backlog_ratio)
    yield from (info, entries, max_entries, fill, memlock, backlog)


def prog_families(snap: ExportSnapshot) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "bpf_prog_info", "A loaded BPF program (always 1)", labels=["prog", "prog_id", "type", "tag"]
    )
    runs = CounterMetricFamily(
        "bpf_prog_runs",
        "Times the program ran while stats were on (--prog-stats)",
        labels=["prog", "prog_id"],
    )
    run_time = CounterMetricFamily(
        "bpf_prog_run_time_seconds",
        "Time the program spent running while stats were on (--prog-stats)",
        labels=["prog", "prog_id"],
    )
    for p in snap.progs:
        info.add_metric([p.name, str(p.id), p.type, p.tag], 1)
        if p.run_cnt is not None and p.run_time_ns is not None:
            runs.add_metric([p.name, str(p.id)], p.run_cnt)
            run_time.add_metric([p.name, str(p.id)], p.run_time_ns / 1e9)
    yield info
    if any(p.run_cnt is not None for p in snap.progs):
        yield runs
        yield run_time


def value_families(snap: ExportSnapshot) -> Iterator[Metric]:
    families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
    for series in snap.values:
        spec = series.spec
        name = spec.metric
        labels = ["map", "id", *series.label_names]
        fam = families.get(name)
        if fam is None:
            help_text = f"{spec.map_name}:{'.'.join(spec.field) or 'value'} (mapexplorer --values)"
            if spec.kind == "counter":
                fam = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=labels)
            else:
                fam = GaugeMetricFamily(name, help_text, labels=labels)
            families[name] = fam
        dup = sum(1 for s in snap.values if s.spec is spec) > 1
        prefix = [spec.map_name, str(series.map_id) if dup else ""]
        for label_values, value in series.samples:
            fam.add_metric([*prefix, *label_values], value)
    yield from families.values()


def self_families(snap: ExportSnapshot) -> Iterator[Metric]:
    took = GaugeMetricFamily("bpf_export_snapshot_duration_seconds", "Seconds the last kernel read took")
    took.add_metric([], snap.duration_s)
    yield took
    dropped = CounterMetricFamily(
        "bpf_export_dropped_series", "Value series left out by the per-map cardinality limit"
    )
    dropped.add_metric([], snap.dropped_series_total)
    yield dropped
    errors = CounterMetricFamily("bpf_export_read_errors", "Map reads that failed")
    errors.add_metric([], snap.read_errors_total)
    yield errors
    reads = CounterMetricFamily(
        "bpf_export_snapshots", "Kernel reads (one per interval, whatever the scrapes)"
    )
    reads.add_metric([], snap.snapshots_total)
    yield reads
