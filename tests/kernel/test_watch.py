"""Ringbuf and perf_event_array streams on the real kernel, fed by a BCC producer of known sequences
(tests/kernel/stream_producer.py): exact decoded fields, no gaps, tap mode never moving the consumer
position, perf slots installed only when empty, lost counts, the map going away, and ``mapexplorer
watch`` end to end against a producer in another process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import needs_root, run_cli

from mapexplorer import streams
from mapexplorer.kernel import maps, perf, ringbuf

pytestmark = [needs_root, pytest.mark.kernel, pytest.mark.bcc]

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import stream_producer as sp  # noqa: E402 - the producer lives next to this file

COMM = Path("/proc/self/comm").read_text().strip()[:15]
WAIT_ROUNDS = 200  # read_batch(0.1) rounds before a test gives up waiting (a bound, not a timing)


@pytest.fixture
def producer() -> Iterator[sp.Producer]:
    p = sp.Producer(rb_pages=16)
    try:
        yield p
    finally:
        p.close()


def expected(seq: int, pid: int | None = None) -> dict:
    return {"seq": seq, "pid": pid or os.getpid(), "neg": -seq, "comm": COMM, "arr": [seq & 0xFFFF, 7]}


def read_n(stream: streams.EventStream, n: int) -> list[streams.Event]:
    out: list[streams.Event] = []
    for _ in range(WAIT_ROUNDS):
        if len(out) >= n:
            break
        out.extend(stream.read_batch(0.1))
    return out


def usable_cpus(info: maps.MapInfo) -> list[int]:
    return [c for c in maps.possible_cpus() if c < info.max_entries]


def emit_on_cpu(p: sp.Producer, cpu: int, n: int, mode: int) -> None:
    """Emit from a given CPU, so perf samples land in that CPU's slot."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        p.emit(n, mode)
    finally:
        os.sched_setaffinity(0, old)


# -- ringbuf -----------------------------------------------------------------------------------------


def test_ringbuf_events_decode_exactly_by_type_name(producer):
    with streams.open_stream(producer.ringbuf_id, type_name="test_ev") as s:
        assert s.mode == "tap"  # nobody else holds the map: still a tap (its reader may be restarting)
        producer.emit(100)
        events = read_n(s, 100)
    assert [e.fields for e in events] == [expected(i) for i in range(100)]
    assert {e.size for e in events} == {sp.EV_SIZE}
    assert all(e.cpu is None for e in events)
    assert s.total == 100 and s.dropped == 0 and s.lost == 0


def test_ringbuf_type_guessed_from_record_size(producer):
    with streams.open_stream(producer.ringbuf_id) as s:
        producer.emit(3)
        events = read_n(s, 3)
        assert s.type_name == "struct test_ev"
    assert [e.fields for e in events] == [expected(i) for i in range(3)]


def test_read_when_ready_returns_every_record_in_order(producer):
    fd = maps.open_map(producer.ringbuf_id, write=True)
    try:
        with ringbuf.RingBufReader(fd, maps.map_info(fd).max_entries, consume=True) as r:
            assert r.read_when_ready(0.01) == []
            producer.emit(50)
            got = r.read_when_ready(1.0)
            producer.emit(5)
            got += r.read_when_ready(1.0)
            assert r.positions().consumer == r.positions().producer == 55 * (sp.EV_SIZE + 8)
    finally:
        os.close(fd)
    assert [int.from_bytes(x[:8], "little") for x in got] == list(range(55))


def test_keep_last_decodes_only_the_newest_but_counts_all(producer):
    with streams.open_stream(producer.ringbuf_id, type_name="test_ev") as s:
        producer.emit(100)
        events = s.read_batch(1.0, keep_last=10)
    assert [e.fields["seq"] for e in events] == list(range(90, 100))
    assert s.total == 100


def test_ringbuf_no_gaps_at_a_moderate_rate():
    producer = sp.Producer(rb_pages=256)  # 1 MiB: ~20,000 events of slack if the reader thread stalls
    try:
        _no_gaps(producer)
    finally:
        producer.close()


def _no_gaps(producer: sp.Producer) -> None:
    total = 40_000
    got: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader(stream: streams.EventStream) -> None:
        try:
            while not done.is_set():
                got.extend(e.fields["seq"] for e in stream.read_batch(0.02))
            while batch := stream.read_batch(0):
                got.extend(e.fields["seq"] for e in batch)
        except BaseException as exc:  # handed to the test thread below
            errors.append(exc)

    # consume: 40,000 records are more than the ring holds, and a tap frees no space for the producer
    with streams.open_stream(producer.ringbuf_id, type_name="test_ev", consume=True) as s:
        t = threading.Thread(target=reader, args=(s,))
        t.start()
        try:
            for _ in range(total // 200):
                producer.emit(200)
                time.sleep(0.001)
        finally:
            done.set()
            t.join()
    assert not errors
    assert got == list(range(total))


def test_tap_leaves_the_consumer_position_unchanged(producer):
    fd = maps.open_map(producer.ringbuf_id, write=True)
    try:
        info = maps.map_info(fd)
        with ringbuf.RingBufReader(fd, info.max_entries, consume=True) as owner:
            producer.emit(50)
            assert len(owner.read(10)) == 10  # the "owner" consumed 10 of 50
            before = owner.positions()
            with streams.open_stream(producer.ringbuf_id, type_name="test_ev", tap=True) as tap:
                assert tap.mode == "tap"
                events = read_n(tap, 40)
                producer.emit(5)
                events += read_n(tap, 5)
                after = owner.positions()
            assert [e.fields["seq"] for e in events] == list(range(10, 55))
            assert after.consumer == before.consumer
            assert after.producer == before.producer + 5 * (sp.EV_SIZE + 8)
            assert tap.dropped == 0
    finally:
        os.close(fd)


def test_tap_says_when_the_owner_overtook_it(producer):
    fd = maps.open_map(producer.ringbuf_id, write=True)
    try:
        info = maps.map_info(fd)
        with ringbuf.RingBufReader(fd, info.max_entries, consume=True) as owner, \
                streams.open_stream(producer.ringbuf_id, type_name="test_ev", tap=True) as tap:
            ring_events = info.max_entries // (sp.EV_SIZE + 8)
            for _ in range(6):  # the owner keeps up, the tap does not read: the producer laps it
                producer.emit(ring_events // 2)
                owner.read()
            tap.read_batch(0.1)  # what is still intact; the overwritten part is skipped and counted
            notices = tap.take_notices()
            assert tap.dropped > 0
            assert any("overtook" in n for n in notices)
            producer.emit(10)
            events = read_n(tap, 10)
            seqs = [e.fields["seq"] for e in events]
            assert seqs[-10:] == list(range(producer.emitted - 10, producer.emitted))
    finally:
        os.close(fd)


# -- perf_event_array --------------------------------------------------------------------------------


def test_perf_events_decode_with_their_cpu(producer):
    with streams.open_stream(producer.perf_id) as s:
        assert s.mode == "perf"
        cpus = usable_cpus(s.info)
        for cpu in cpus:
            emit_on_cpu(producer, cpu, 4, sp.PERF)
        events = read_n(s, 4 * len(cpus))
        assert s.type_name == "struct test_ev"  # guessed from the padded sample size
    by_cpu: dict[int, list[dict]] = {}
    for e in events:
        by_cpu.setdefault(e.cpu, []).append(e.fields)
    assert sorted(by_cpu) == cpus
    seq = 0
    for cpu in cpus:
        assert by_cpu[cpu] == [expected(i) for i in range(seq, seq + 4)]
        seq += 4
    assert {e.size for e in events} == {((sp.EV_SIZE + 4 + 7) & ~7) - 4}


def test_perf_installs_only_into_empty_slots(producer):
    map_fd = producer.map_fd("test_perf")  # BCC's fd is writable: it stands in for the owner
    info = maps.map_info(map_fd)
    cpus = usable_cpus(info)
    owner_cpu = cpus[0]
    owner_event = perf.open_bpf_output_event(owner_cpu)
    owner_ring = perf.PerfRing(owner_event, owner_cpu, pages=8)
    try:
        maps.Map(os.dup(map_fd), info).update(
            owner_cpu.to_bytes(4, "little"), owner_event.to_bytes(4, "little")
        )
        assert perf.occupied_slots(map_fd, cpus) == {c: c == owner_cpu for c in cpus}
        with streams.open_stream(producer.perf_id, type_name="test_ev") as s:
            assert s._reader.plan.skipped == (owner_cpu,)
            assert s._reader.plan.free == tuple(cpus[1:])
            assert any("--takeover" in n for n in s.take_notices())
            assert all(perf.occupied_slots(map_fd, cpus).values())
            emit_on_cpu(producer, owner_cpu, 3, sp.PERF)
            assert s.read_batch(0.1) == []  # the owner's slot still delivers to the owner
            owner_got = owner_ring.read()
            assert [int.from_bytes(r[:8], "little") for r in owner_got] == [0, 1, 2]
        # our slots emptied themselves when the stream closed; the owner's is untouched
        assert perf.occupied_slots(map_fd, cpus) == {c: c == owner_cpu for c in cpus}
    finally:
        owner_ring.close()
        os.close(owner_event)


def test_perf_takeover_replaces_occupied_slots_and_all_busy_is_an_error(producer):
    map_fd = producer.map_fd("test_perf")
    info = maps.map_info(map_fd)
    cpus = usable_cpus(info)
    owned = []
    m = maps.Map(os.dup(map_fd), info)
    try:
        for cpu in cpus:
            efd = perf.open_bpf_output_event(cpu)
            owned.append(efd)
            m.update(cpu.to_bytes(4, "little"), efd.to_bytes(4, "little"))
        with pytest.raises(streams.StreamError, match="--takeover"):
            streams.open_stream(producer.perf_id)
        with pytest.raises(streams.ConsentNeeded, match="Take them over") as asked:
            streams.open_stream(producer.perf_id, ask=True)  # the TUI asks instead
        assert all(perf.occupied_slots(map_fd, cpus).values())  # nothing touched before consent
        with asked.value.accept() as s:
            assert s._reader.plan.taken == tuple(cpus)
            assert any("took over" in n for n in s.take_notices())
            emit_on_cpu(producer, cpus[-1], 2, sp.PERF)
            assert [e.fields["seq"] for e in read_n(s, 2)] == [0, 1]
        # Taken-over slots stay empty once we close: the previous reader must install its rings again.
        assert not any(perf.occupied_slots(map_fd, cpus).values())
    finally:
        m.close()
        for efd in owned:
            os.close(efd)


def test_perf_lost_samples_are_counted(producer):
    with streams.open_stream(producer.perf_id, type_name="test_ev") as s:
        cpu = usable_cpus(s.info)[0]
        emit_on_cpu(producer, cpu, 20_000, sp.PERF)  # ~1 MiB of samples into a 256 KiB ring
        first = read_n(s, 1)
        emit_on_cpu(producer, cpu, 1, sp.PERF)  # the kernel writes PERF_RECORD_LOST before the next one
        rest = read_n(s, 1)
        received = len(first) + len(rest)
        assert s.lost > 0
        assert received + s.lost == 20_001
        assert rest[-1].fields["seq"] == 20_000


# -- the map going away ------------------------------------------------------------------------------


class OtherProcess:
    """stream_producer.py as a separate process that owns the maps."""

    def __init__(self, mode: str = "ringbuf") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "stream_producer.py"), mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("stream_producer.py failed to start")
        self.ids = json.loads(line)

    def emit(self, n: int) -> None:
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


@pytest.fixture
def other() -> Iterator[OtherProcess]:
    o = OtherProcess()
    try:
        yield o
    finally:
        o.close()


def test_map_freed_while_watching_ends_the_stream(other):
    s = streams.open_stream(other.ids["ringbuf"], type_name="test_ev")
    try:
        assert s.mode == "tap"  # another process holds it
        other.emit(3)
        assert [e.fields["seq"] for e in read_n(s, 3)] == [0, 1, 2]
        other.close()
        with pytest.raises(streams.StreamEnded, match="freed"):
            for _ in range(WAIT_ROUNDS):
                s.read_batch(0.1)
    finally:
        s.close()


def test_perf_of_another_process_asks_before_installing_when_asked_to():
    o = OtherProcess("perf")
    try:
        perf_id = o.ids["perf"]
        fd = maps.open_map(perf_id)
        try:
            cpus = usable_cpus(maps.map_info(fd))
        finally:
            os.close(fd)
        with pytest.raises(streams.ConsentNeeded, match=rf"held by .*\[{o.proc.pid}\]") as asked:
            streams.open_stream(perf_id, ask=True)
        wfd = maps.open_map(perf_id, write=True)
        try:
            assert not any(perf.occupied_slots(wfd, cpus).values())  # nothing installed before consent
            with asked.value.accept() as s:
                assert all(perf.occupied_slots(wfd, cpus).values())
                o.emit(3)
                assert [e.fields["seq"] for e in read_n(s, 3)] == [0, 1, 2]
        finally:
            os.close(wfd)
    finally:
        o.close()


# -- mapexplorer watch -------------------------------------------------------------------------------


def test_watch_json_type_on_a_ringbuf_of_another_process(other):
    other.emit(7)
    proc = run_cli("watch", str(other.ids["ringbuf"]), "--json", "--type", "test_ev", "--count", "7")
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    comm = _comm_of(other.proc.pid)
    assert lines == [
        {"cpu": None, "size": sp.EV_SIZE, "event": expected(i, other.proc.pid) | {"comm": comm}}
        for i in range(7)
    ]
    assert "tap mode" in proc.stderr


def _comm_of(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _start_watch(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mapexplorer", "watch", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stderr.readline()  # "mapexplorer: watching ...": the reader is in place
    if "watching" not in line:
        while "watching" not in line and line:
            line = proc.stderr.readline()
    return proc


def test_watch_json_on_a_perf_array_of_another_process():
    o = OtherProcess("perf")
    try:
        proc = _start_watch(str(o.ids["perf"]), "--json", "--type", "test_ev", "--count", "5")
        try:
            o.emit(5)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        events = [json.loads(x) for x in out.splitlines()]
        assert [e["event"]["seq"] for e in events] == [0, 1, 2, 3, 4]
        assert all(e["event"]["pid"] == o.proc.pid and e["event"]["arr"][1] == 7 for e in events)
        assert all(isinstance(e["cpu"], int) and e["size"] == 44 for e in events)
    finally:
        o.close()


def test_watch_text_lines_and_clean_ctrl_c(other):
    proc = _start_watch(str(other.ids["ringbuf"]))
    try:
        other.emit(2)
        first = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first.startswith("size=40 seq=0 ")
    assert "Traceback" not in err
    assert proc.returncode == 130


def test_watch_ends_with_a_message_when_the_map_is_freed(other):
    proc = _start_watch(str(other.ids["ringbuf"]), "--json")
    try:
        other.emit(1)
        first = json.loads(proc.stdout.readline())
        other.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first["event"]["seq"] == 0
    assert out == ""
    assert proc.returncode == 0
    assert f"map {other.ids['ringbuf']} (test_rb) was freed" in err


def test_watch_timeout_without_events(other):
    proc = run_cli("watch", str(other.ids["ringbuf"]), "--timeout", "0.3")
    assert proc.stdout == ""
    assert "no events in 0.3 s" in proc.stderr


def test_watch_a_map_that_is_not_a_stream(new_map):
    m = new_map("hash", 4, 8, 4, name="test_watch_h")
    proc = run_cli("watch", str(m.info.id), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"mapexplorer: map {m.info.id} is a hash, not a stream: watch reads ringbuf and perf_event_array maps"
    )


def test_watch_unknown_type_name(other):
    proc = run_cli("watch", str(other.ids["ringbuf"]), "--type", "test_no_such_struct", check=False)
    assert proc.returncode == 1
    assert "no struct or union named 'test_no_such_struct'" in proc.stderr
    assert "Traceback" not in proc.stderr
