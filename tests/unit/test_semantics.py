"""Value semantics: times, addresses, ports, errnos, ASCII bytes, counters vs gauges (pure, no root)."""

from __future__ import annotations

import time

from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.btf.decode import compile_decoder
from mapexplorer.codec import fields_from_btf
from mapexplorer.semantics import (
    BE16,
    ERRNO,
    IPV4,
    IPV6,
    TIME,
    Clock,
    CounterTracker,
    bytes_ascii,
    fields_from_c,
    fmt_duration,
    humanize,
    kinds_of,
)

BOOT_NS = 5_000 * 1_000_000_000  # the test clock: 5000 s after boot, at a fixed wall time
WALL = time.mktime((2026, 12, 1, 15, 0, 0, 0, 0, -1))
CLOCK = Clock(WALL, BOOT_NS)


def _flow_btf() -> tuple[Btf, int]:
    b = BtfBuilder()
    u8 = b.int("unsigned char", 1)
    u16 = b.int("unsigned short", 2)
    u32 = b.int("unsigned int", 4)
    s32 = b.int("int", 4, signed=True)
    u64 = b.int("unsigned long long", 8)
    be16 = b.typedef("__be16", b.typedef("__u16", u16))
    be32 = b.typedef("__be32", b.typedef("__u32", u32))
    idx = b.int("int", 4, signed=True)
    a4 = b.array(u8, 4, idx)
    a16 = b.array(u8, 16, idx)
    sid = b.struct("flow", 64, [
        ("ts_ns", u64, 0),
        ("saddr", be32, 64),
        ("dport", be16, 96),
        ("sport", u16, 112),
        ("nexthop", a4, 128),
        ("daddr6", a16, 160),
        ("ret", s32, 288),
        ("lat_ns", u64, 320),
        ("packets", u64, 384),
        ("count", u32, 448),
    ])
    return Btf.parse(b.blob()), sid


def test_kinds_from_btf_names_and_types():
    btf, sid = _flow_btf()
    kinds = kinds_of(fields_from_btf(btf, sid))
    assert kinds == {"ts_ns": TIME, "saddr": IPV4, "dport": BE16, "nexthop": IPV4, "daddr6": IPV6,
                     "ret": ERRNO, "lat_ns": TIME}


def test_humanize_a_decoded_struct():
    btf, sid = _flow_btf()
    raw = bytearray(64)
    ts = BOOT_NS - 3_000_000_000  # 3 s ago
    raw[0:8] = ts.to_bytes(8, "little")
    raw[8:12] = bytes([10, 0, 0, 1])  # network order in memory
    raw[12:14] = (8080).to_bytes(2, "big")
    raw[14:16] = (443).to_bytes(2, "little")
    raw[16:20] = bytes([10, 77, 211, 2])
    raw[20:36] = bytes.fromhex("fe800000000000000000000000000001")
    raw[36:40] = (-2).to_bytes(4, "little", signed=True)
    raw[40:48] = (1_234_000).to_bytes(8, "little")
    raw[48:56] = (7).to_bytes(8, "little")
    value = compile_decoder(btf, sid)(bytes(raw))
    assert value["saddr"] == 0x0100000A  # the decoder keeps raw numbers (dump --json)
    out = humanize(value, kinds_of(fields_from_btf(btf, sid)), CLOCK)
    assert out["ts_ns"] == "14:59:57.000 (3s ago)"
    assert out["saddr"] == "10.0.0.1"
    assert out["dport"] == 8080
    assert out["sport"] == 443
    assert out["nexthop"] == "10.77.211.2"
    assert out["daddr6"] == "fe80::1"
    assert out["ret"] == "-2 (ENOENT)"
    assert out["lat_ns"] == "1.234 ms"
    assert out["packets"] == 7 and out["count"] == 0


def test_times_timestamp_or_duration():
    kinds = {"ts": TIME, "first_seen_ns": TIME, "delta_ns": TIME, "updated_ns": TIME}
    out = humanize({"ts": BOOT_NS - 125 * 10**9, "first_seen_ns": 0, "delta_ns": 2 * 10**9,
                    "updated_ns": BOOT_NS * 3}, kinds, CLOCK)
    assert out["ts"] == "14:57:55.000 (2m05s ago)"
    assert out["first_seen_ns"] == "0"  # never set
    assert out["delta_ns"] == "2 s"  # a duration by its name
    assert out["updated_ns"] == "boot+4h10m"  # later than now: a time counted from boot, not a wall time


def test_fmt_duration_units():
    assert [fmt_duration(x) for x in (451, 3_200, 1_234_000, 12_300_000_000, 312 * 10**9)] == [
        "451 ns", "3.2 µs", "1.234 ms", "12.3 s", "5m12s"]


def test_not_every_eight_byte_field_is_a_time():
    kinds = kinds_of(fields_from_c("struct s {\n    u64 packets;\n    u64 bytes;\n    u32 ts_ns;\n};"))
    assert kinds == {}  # a 4-byte ts_ns is not a nanosecond clock


def test_kinds_from_recorded_c_text():
    c = ("struct route {\n    u8 nexthop[4];\n    u32 ifindex;\n    char label[20];\n    u64 packets;\n"
         "    u64 last_seen_ns;\n    __be16 dport;\n};")
    assert kinds_of(fields_from_c(c)) == {"nexthop": IPV4, "last_seen_ns": TIME, "dport": BE16}
    assert kinds_of(fields_from_c("typedef __u64 u64;")) == {}


def test_arrays_of_structs_are_walked():
    b = BtfBuilder()
    u64 = b.int("unsigned long long", 8)
    idx = b.int("int", 4, signed=True)
    ev = b.struct("ev", 8, [("ts", u64, 0)])
    outer = b.struct("ring", 16, [("evs", b.array(ev, 2, idx), 0)])
    btf = Btf.parse(b.blob())
    kinds = kinds_of(fields_from_btf(btf, outer))
    assert kinds == {"evs[].ts": TIME}
    out = humanize({"evs": [{"ts": BOOT_NS}, {"ts": 0}]}, kinds, CLOCK)
    assert out == {"evs": [{"ts": "15:00:00.000 (now)"}, {"ts": "0"}]}


def test_shapes_that_do_not_fit_stay_as_decoded():
    out = humanize({"addr": "not bytes", "ret": 5}, {"addr": IPV4, "ret": ERRNO}, CLOCK)
    assert out == {"addr": "not bytes", "ret": 5}


def test_bytes_ascii_only_when_printable():
    assert bytes_ascii(b"bash\0\0\0\0") == "62 61 73 68 00 00 00 00  |bash....|"
    assert bytes_ascii(bytes([1, 2, 3, 200])) == "01 02 03 c8"
    # Binary with no run of 4 printable bytes stays plain hex.
    binary = bytes([0x41, 0x42, 0x43, 0, 0x44, 0x45, 0x46, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF] * 2)
    assert bytes_ascii(binary) == binary.hex(" ")


def test_bytes_ascii_shows_a_name_inside_binary_data():
    # A queue element read without BTF: {u64 ts; u32 pid; u32 ppid; char comm[16]} -- mostly not
    # printable, but the name inside is what the reader looks for.
    raw = (123456789012).to_bytes(8, "little") + (4242).to_bytes(4, "little") + (1).to_bytes(4, "little")
    raw += b"dsx-comm".ljust(16, b"\0")
    text = bytes_ascii(raw)
    assert text.startswith(raw.hex(" ") + "  |")
    assert text.endswith("|") and "dsx-comm" in text
    assert text.split("|")[1] == "".join(chr(b) if 32 <= b < 127 else "." for b in raw)
    assert bytes_ascii(raw, limit=8) == raw[:8].hex(" ") + "…"  # the text is beyond the limit


def test_counters_vs_gauges():
    t = CounterTracker()
    for before, now in ((1, 5), (5, 9), (9, 9)):
        t.observe("packets", before, now)
    for before, now in ((10, 12), (12, 3)):
        t.observe("queue_len", before, now)
    t.observe("flags", 0, 0)
    assert t.counters == frozenset({"packets"})
    assert t.is_counter("packets") and not t.is_counter("queue_len") and not t.is_counter("flags")
