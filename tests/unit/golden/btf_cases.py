"""Map definitions shared by the golden recorder (record.py) and the real-kernel test (test_btf_dump.py).

Two sources of BTF: a BCC program (clang's BTF for C types with bitfields at odd offsets, unions, nested
anonymous structs, typedef/const/volatile chains, enums, strings) and hand-made BTF (kinds BCC's clang
does not emit or will not attach: floats, enum64, restrict, type_tag, decl_tag, char-encoded ints,
128-bit ints, functions).
"""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass, field

from mapexplorer.btf.build import BtfBuilder

BCC_SOURCE = r"""
enum color { RED, GREEN = 5, BLUE = -3 };
enum small_e { SMALL_A = 1, SMALL_B = 200 } __attribute__((packed));
typedef unsigned long long u64t;
typedef const volatile u64t cv_u64;
struct inner { int a; char tag[8]; };
typedef const struct inner inner_ct;
struct rich {
    unsigned int x:3, y:13, z:1;
    unsigned char pad;
    int sfield:5;
    unsigned long long wide:37;
    unsigned short odd:7;
    union { unsigned int u; unsigned short h[2]; unsigned char b[4]; } un;
    struct { short p; inner_ct in; } anon_named;
    struct { int q; union { unsigned int r; int s; }; };
    struct { char tail[3]; };
    enum color c;
    enum small_e se;
    cv_u64 cv;
    char name[12];
    _Bool flag;
    void *ptr;
    long arr[3];
    signed char sc;
    unsigned char bytes[5];
};
struct key2 { unsigned int ip; unsigned short port; unsigned char proto; char comm[9]; };
struct small { unsigned long long a; unsigned int b; };
BPF_HASH(test_rich, u32, struct rich, 16);
BPF_HASH(test_key2, struct key2, enum color, 16);
BPF_PERCPU_HASH(test_pcpu, u32, struct small, 16);
typedef char name16_t[16];
BPF_ARRAY(test_strarr, name16_t, 4);
int test_fn(void *ctx) {
    u32 k = 0;
    struct rich v = {};
    struct key2 k2 = {};
    enum color c = RED;
    struct small s = {};
    test_rich.update(&k, &v);
    test_key2.update(&k2, &c);
    test_pcpu.update(&k, &s);
    test_strarr.lookup(&k);
    return 0;
}
"""

BCC_MAPS = ("test_rich", "test_key2", "test_pcpu", "test_strarr")


def random_bytes(seed: int, n: int) -> bytearray:
    rnd = random.Random(seed)
    return bytearray(rnd.randrange(256) for _ in range(n))


def bcc_entries(
    name: str, key_size: int, value_size: int, offs: dict[str, int], count: int = 6
) -> list[tuple[bytes, bytes]]:
    """Deterministic keys and values for a BCC map: random bytes with readable strings patched in.

    ``offs``: byte offsets of the members patched ("name", "c" of struct rich; "comm" of struct key2).
    """
    out = []
    for i in range(count):
        key = bytearray(struct.pack("<I", i).ljust(key_size, b"\0"))
        value = random_bytes(1000 * i + len(name), value_size)
        if name == "test_rich":
            # name[12]: strings, an empty string, a non-string, a quote, a control char (no backslash:
            # bpftool 7.1 prints one as "\n")
            names = [b"hello\0", b"\0", bytes(range(60, 72)), b'q"uo/te\0', b"full_len_12\0", b"\x01bad\0"]
            raw = names[i % len(names)]
            value[offs["name"] : offs["name"] + len(raw)] = raw
            if i in (3, 4):
                value[offs["c"] : offs["c"] + 4] = struct.pack("<i", (5, -3)[i - 3])  # GREEN, BLUE
        elif name == "test_key2":
            key = random_bytes(7 + i, key_size)
            key[offs["comm"] : offs["comm"] + 6] = b"comm%d\0" % i
            value = bytearray(struct.pack("<i", (0, 5, -3, 7, 1 << 30, -1)[i % 6]))
        elif name == "test_strarr":
            key = bytearray(struct.pack("<I", i % 4))
            value = bytearray(value_size)
            raw = (b"alpha\0", b"\0", b"no-nul-here-16!!", b"tab\there\0")[i % 4]
            value[: len(raw)] = raw
        out.append((bytes(key), bytes(value)))
    if name == "test_strarr":
        out = out[:4]
    return out


@dataclass
class HandMade:
    """A map with hand-made BTF: the blob, the key/value type ids, entries and (when bpftool cannot show
    them) the expected decoded values."""

    name: str
    map_type: str
    blob: bytes
    key_type: int
    value_type: int
    key_size: int
    value_size: int
    entries: list[tuple[bytes, bytes]]
    expected: list[dict] | None = None  # None: bpftool is the reference
    c_names: dict[str, int] = field(default_factory=dict)


def handmade_kinds() -> HandMade:
    """Every kind bpftool can print: enum64 (signed, unsigned), restrict/type_tag/typedef chains, char-
    encoded ints, bool, 128-bit ints, arrays of structs, bitfields in a union, plus FUNC/FUNC_PROTO/
    DECL_TAG/FWD records that hold no data."""
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    s32 = b.int("int", 4, signed=True)
    u64 = b.int("long long unsigned int", 8)
    s8 = b.int("signed char", 1, signed=True)
    chr_ = b.int("char", 1, char=True)
    bool_ = b.int("_Bool", 1, bool_=True)
    i128 = b.int("__int128 unsigned", 16)
    idx = b.int("__ARRAY_SIZE_TYPE__", 4)
    e64u = b.enum64("big_u", 8, [("BIG_ONE", 1 << 40), ("BIG_MAX", (1 << 64) - 1), ("BIG_ZERO", 0)])
    e64s = b.enum64("big_s", 8, [("NEG_TWO", -2), ("POS", 7)], signed=True)
    fwd = b.fwd("opaque")
    pfwd = b.ptr(fwd)
    rptr = b.restrict(b.ptr(b.type_tag("user", fwd)))
    td1 = b.typedef("u64_plain", u64)
    cv = b.const(b.volatile(td1))
    td2 = b.typedef("u64_cv", cv)
    pair = b.struct("pair", 8, [("lo", u32, 0), ("hi", s32, 32)])
    pairs = b.array(pair, 2, idx)
    chars = b.array(chr_, 6, idx)
    bf_union = b.union(
        "bits", 4, [("all", u32, 0), ("low", u32, 0, 5), ("mid", u32, 0, 11), ("one", u32, 0, 1)]
    )
    value = b.struct(
        "kinds",
        80,
        [
            ("eu", e64u, 0),
            ("es", e64s, 64),
            ("p", rptr, 128),
            ("cv", td2, 192),
            ("wide", i128, 256),
            ("pairs", pairs, 384),
            ("chars", chars, 512),
            ("c", chr_, 560),
            ("ok", bool_, 568),
            ("bits", bf_union, 576),
            ("s", s8, 608),
        ],
    )
    proto = b.func_proto(s32, [("ctx", pfwd), ("n", u32)])
    b.func("test_func", proto)
    b.decl_tag("tagged_member", value, 3)
    key = u32
    entries = []
    for i in range(6):
        v = random_bytes(77 + i, 80)
        for j in range(64, 71):  # bpftool 7.1 prints a '"' or '\\' char unescaped (invalid JSON): avoid them
            if v[j] in (0x22, 0x5C):
                v[j] = 0x41
        if i == 0:
            v[0:8] = struct.pack("<Q", 1 << 40)
            v[8:16] = struct.pack("<q", -2)
            v[64:70] = b"abc\0\0\0"
            v[70] = ord("Z")
            v[71] = 1
        if i == 1:
            v[0:8] = struct.pack("<Q", (1 << 64) - 1)
            v[8:16] = struct.pack("<q", 7)
            v[70] = ord("'")  # not '"': bpftool 7.1 prints it unescaped (invalid JSON)
        if i == 2:
            v[71] = 0
            v[70] = 9
        entries.append((struct.pack("<I", i), bytes(v)))
    return HandMade("test_kinds", "hash", b.blob(), key, value, 4, 80, entries)


def handmade_floats() -> HandMade:
    """Floats (bpftool cannot print them: it emits "(unsupported-kind"): expected values by construction."""
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    f32 = b.float("float", 4)
    f64 = b.float("double", 8)
    idx = b.int("__ARRAY_SIZE_TYPE__", 4)
    tdf = b.typedef("real_t", b.const(f64))
    arr = b.array(f32, 3, idx)
    value = b.struct("fl", 32, [("f", f32, 0), ("d", tdf, 64), ("v", arr, 128), ("n", u32, 224)])
    cases = [
        (1.5, -2.25, (0.5, 0.25, -1.0), 1),
        (float("nan"), 1e300, (float("inf"), float("-inf"), 3.0), 2),
        (-0.0, 5e-324, (1e-45, 3.4028234663852886e38, 0.1), 3),
    ]
    entries, expected = [], []
    for i, (f, d, v, n) in enumerate(cases):
        raw = struct.pack("<f4xd3fI", f, d, *v, n)
        entries.append((struct.pack("<I", i), raw))
        fv = [struct.unpack("<f", struct.pack("<f", x))[0] for x in (f, *v)]

        def num(x: float) -> float | str:
            if x != x:
                return "nan"
            if x in (float("inf"), float("-inf")):
                return "inf" if x > 0 else "-inf"
            return x

        expected.append(
            {"key": i, "value": {"f": num(fv[0]), "d": num(d), "v": [num(x) for x in fv[1:]], "n": n}}
        )
    return HandMade("test_floats", "hash", b.blob(), u32, value, 4, 32, entries, expected)


def handmade_datasec() -> HandMade:
    """A global-data style value (what libbpf's .data/.bss maps carry): DATASEC of VARs."""
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    s64 = b.int("long long int", 8, signed=True)
    ch = b.int("char", 1, signed=True)
    idx = b.int("__ARRAY_SIZE_TYPE__", 4)
    v1 = b.var("counter", s64)
    v2 = b.var("label", b.array(ch, 8, idx))
    v3 = b.var("flags", u32)
    sec = b.datasec(".data", 24, [(v1, 0, 8), (v2, 8, 8), (v3, 16, 4)])
    entries = [
        (struct.pack("<I", 0), struct.pack("<q8sI4x", -5, b"hi\0", 9)),
        (struct.pack("<I", 1), struct.pack("<q8sI4x", 1 << 40, b"12345678", 0xFFFFFFFF)),
    ]
    return HandMade("test_datasec", "array", b.blob(), u32, sec, 4, 24, entries)


HANDMADE = (handmade_kinds, handmade_floats, handmade_datasec)


# -- creating and filling the maps (root only; used by record.py and tests/kernel/test_btf_dump.py) ------


def member_offset(btf: object, struct_name: str, member: str) -> int:
    """Byte offset of a member of a named struct in parsed BTF."""
    from mapexplorer.btf import Btf

    assert isinstance(btf, Btf)
    tid = btf.find(struct_name, "struct")
    assert tid is not None, struct_name
    for m in btf.type(tid).members:
        if m.name == member:
            return m.bit_offset // 8
    raise KeyError(member)


def percpu_value(value: bytes, value_size: int, ncpu: int) -> bytes:
    """A per-CPU update buffer: a different variant of ``value`` in each CPU's 8-byte-aligned slot."""
    slot = (value_size + 7) & ~7
    out = bytearray()
    for c in range(ncpu):
        v = bytearray(value)
        if v:
            v[0] = (v[0] + c * 17) & 0xFF
        out += bytes(v).ljust(slot, b"\0")
    return bytes(out)


@dataclass
class LiveMap:
    """A filled map the caller owns: its id, the BTF blob, and the entries written (raw bytes)."""

    name: str
    map_id: int
    btf: bytes
    key_type: int
    value_type: int
    key_size: int
    value_size: int
    percpu: bool
    entries: list[tuple[bytes, bytes]]
    expected: list[dict] | None = None


def load_bcc_maps(stack: object) -> list[LiveMap]:
    """Compile BCC_SOURCE, fill its maps; everything is released when ``stack`` (an ExitStack) closes."""
    from contextlib import ExitStack

    from mapexplorer.btf import Btf
    from mapexplorer.kernel import maps
    from mapexplorer.kernel.btf_fetch import btf_by_id

    assert isinstance(stack, ExitStack)
    from bcc import BPF
    from bcc.libbcc import lib

    bpf = BPF(text=BCC_SOURCE.encode())
    stack.callback(bpf.cleanup)
    out = []
    for name in BCC_MAPS:
        fd = lib.bpf_table_fd(bpf.module, name.encode())  # BCC's table classes choke on some C types
        m = maps.Map(os.dup(fd))
        stack.callback(m.close)
        info = m.info
        blob = btf_by_id(info.btf_id).data
        btf = Btf.parse(blob)
        offs = {}
        if name == "test_rich":
            offs = {"name": member_offset(btf, "rich", "name"), "c": member_offset(btf, "rich", "c")}
        if name == "test_key2":
            offs = {"comm": member_offset(btf, "key2", "comm")}
        entries = bcc_entries(name, info.key_size, info.value_size, offs)
        written = []
        for k, v in entries:
            if info.percpu:
                v = percpu_value(v, info.value_size, maps.possible_cpu_count())
            m.update(k, v)
            written.append((k, v))
        out.append(
            LiveMap(
                name,
                info.id,
                blob,
                info.btf_key_type_id,
                info.btf_value_type_id,
                info.key_size,
                info.value_size,
                info.percpu,
                written,
            )
        )
    return out


def load_handmade_maps(stack: object) -> list[LiveMap]:
    """Load each hand-made BTF and create + fill its map."""
    from contextlib import ExitStack

    from mapexplorer.kernel import maps
    from mapexplorer.kernel.btf_fetch import load_btf
    from mapexplorer.kernel.names import map_type_id

    assert isinstance(stack, ExitStack)
    out = []
    for make in HANDMADE:
        h = make()
        btf_fd = load_btf(h.blob)
        stack.callback(os.close, btf_fd)
        fd = maps.create_map(
            map_type_id(h.map_type),
            h.key_size,
            h.value_size,
            16,
            name=h.name,
            btf_fd=btf_fd,
            btf_key_type_id=h.key_type,
            btf_value_type_id=h.value_type,
        )
        m = maps.Map(fd)
        stack.callback(m.close)
        for k, v in h.entries:
            m.update(k, v)
        out.append(
            LiveMap(
                h.name,
                m.info.id,
                h.blob,
                h.key_type,
                h.value_type,
                h.key_size,
                h.value_size,
                False,
                list(h.entries),
                h.expected,
            )
        )
    return out


def bpftool_formatted(map_id: int) -> dict[bytes, dict]:
    """bpftool -j map dump: the "formatted" part of each entry, by raw key bytes."""
    import json
    import subprocess

    proc = subprocess.run(
        ["bpftool", "-j", "map", "dump", "id", str(map_id)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    out = {}
    for e in json.loads(proc.stdout, object_pairs_hook=merge_anonymous):
        out[bytes(int(x, 16) for x in e["key"])] = e["formatted"]
    return out


def merge_anonymous(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object from bpftool with its anonymous members (each printed under a key "", so that a
    plain JSON reader keeps only the last) merged into it as C names their fields, a clashing name
    numbered ``name#2`` as our decoder does."""
    out: dict[str, object] = {}

    def put(key: str, value: object) -> None:
        k, n = key, 1
        while k in out:
            n += 1
            k = f"{key}#{n}"
        out[k] = value

    for key, value in pairs:
        if key == "" and isinstance(value, dict):
            for k, v in value.items():
                put(k, v)
        else:
            put(key, value)
    return out


def normalize(theirs: object, ours: object) -> object:
    """bpftool's formatted value with its hex-string numbers (bitfields, 128-bit ints) read as numbers,
    guided by our value (only where we print a number). bpftool prints the raw bits: where ours is
    negative (a signed bitfield or __int128), the bits are read as two's complement in the width their
    top set bit gives, so equality still checks every bit."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return {k: normalize(v, ours.get(k)) for k, v in theirs.items()}
    if isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours):
        return [normalize(a, b) for a, b in zip(theirs, ours, strict=True)]
    if (
        isinstance(theirs, str)
        and theirs.startswith("0x")
        and isinstance(ours, int)
        and not isinstance(ours, bool)
    ):
        v = int(theirs, 16)
        return v - (1 << v.bit_length()) if ours < 0 < v else v
    return theirs
