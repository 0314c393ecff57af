"""Replayed events decode like live ones: the recording of bench/event_producer.py's ringbuf
(tests/fixtures/events.jsonl) carries no BTF for the ringbuf itself, but the BTF recorded for the map of
``struct evx_bench_event`` that the same programs use, which the replay finds by the records' size."""

from __future__ import annotations

from pathlib import Path

from mapexplorer.replay_source import ReplaySource

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events.jsonl"


def test_recorded_ringbuf_events_decode_with_the_programs_struct() -> None:
    source = ReplaySource(EVENTS, follow_reads=True)
    map_id = source.resolve("evx_bench_rb")
    factory = source.stream_factory(map_id)
    assert factory is not None
    stream = factory()
    records = stream.read_records(0.0)
    assert len(records) == 30 and stream.total == 30
    events = [stream.make_event(cpu, raw) for cpu, raw in records]
    assert stream.type_name == "struct evx_bench_event"
    first = events[0].fields
    assert list(first) == ["ts_ns", "pid", "tid", "uid", "kind", "kernel_stack_id", "user_stack_id", "comm",
                           "filename"]
    assert first["comm"] == "python" and first["filename"] == "/bench/evx/idle_cpu" and first["kind"] == 1
    stamps = [e.fields["ts_ns"] for e in events]
    assert stamps == sorted(stamps)  # in the order the program wrote them
    # the timestamps are the recording's CLOCK_MONOTONIC: within its span, so they show as times
    header = source.recording.header
    assert header.mono * 1e9 < stamps[0] <= stamps[-1] < (header.mono + source.recording.duration + 1) * 1e9
    assert "ts_ns" in getattr(events[0].decoder, "kinds", {})


def test_a_record_of_no_recorded_struct_s_size_stays_bytes() -> None:
    source = ReplaySource(EVENTS, follow_reads=True)
    stream = source.stream_factory(source.resolve("evx_bench_rb"))()  # type: ignore[misc]
    ev = stream.make_event(None, b"\x01\x02\x03")
    assert ev.fields is None and ev.raw == b"\x01\x02\x03"
