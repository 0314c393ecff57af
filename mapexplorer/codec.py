"""Glue between the kernel layer and the pure BTF package: which BTF describes a map's keys and values,
and a :class:`MapCodec` that decodes (bpftool's ``-j`` "formatted" shape), renders bulk JSON text for
``dump --json`` and encodes text for edits.

No textual here. BTF objects are fetched once per id and cached; vmlinux BTF is read once per process.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mapexplorer.btf import Btf, BtfError
from mapexplorer.btf.cprint import c_type, type_ref
from mapexplorer.btf.decode import (
    IntLeaf,
    compile_decoder,
    compile_entry_texts,
    compile_json_texts,
    int_leaves,
)
from mapexplorer.btf.encode import EncodeError, encode, parse_int
from mapexplorer.btf.types import ARRAY, ENUM, ENUM64, INT, MODIFIERS, STRUCT, UNION, find_enum_fast
from mapexplorer.dumpjson import hex_fields, hex_list, percpu_values_json
from mapexplorer.kernel.btf_fetch import btf_by_id
from mapexplorer.kernel.maps import EntryChunk, MapInfo, possible_cpu_count, round_up8
from mapexplorer.kernel.names import enum_to_names, set_kernel_names
from mapexplorer.maptypes import ID_VALUE_TYPES
from mapexplorer.semantics import MAX_DEPTH, Field, kinds_of

VMLINUX_PATH = "/sys/kernel/btf/vmlinux"

__all__ = [
    "EncodeError",
    "MapCodec",
    "codec_for_map_line",
    "map_codec",
    "program_btf",
    "recorded_codec",
    "register_kernel_enum_names",
    "vmlinux",
]


@cache
def vmlinux_bytes() -> bytes:
    with open(VMLINUX_PATH, "rb") as f:
        return f.read()


@cache
def vmlinux() -> Btf:
    """The running kernel's BTF (parsed once per process)."""
    return Btf.parse(vmlinux_bytes())


@cache
def program_btf(btf_id: int) -> Btf:
    """The BTF object with this id, parsed: kernel module BTF is split on vmlinux (its ids continue after
    vmlinux's); program BTF (BPF_BTF_LOAD) is standalone; the vmlinux object is :func:`vmlinux`.

    Raises:
        FileNotFoundError: no BTF object has this id.
        BtfError: the blob is malformed.
    """
    obj = btf_by_id(btf_id)
    if obj.kernel_btf and obj.name == "vmlinux":
        return vmlinux()
    if obj.kernel_btf:
        return Btf.parse(obj.data, base=vmlinux())
    return Btf.parse(obj.data)


def register_kernel_enum_names() -> None:
    """Name map and program types from the running kernel's ``enum bpf_map_type`` / ``enum bpf_prog_type``.

    Cheap (a few ms): finds just those two enums in the vmlinux blob without indexing it. Without kernel
    BTF, the built-in tables stay in use.
    """
    try:
        data = vmlinux_bytes()
        map_types = find_enum_fast(data, "bpf_map_type")
        prog_types = find_enum_fast(data, "bpf_prog_type")
        attach_types = find_enum_fast(data, "bpf_attach_type")
    except (OSError, BtfError):
        return
    if map_types and prog_types:
        attach = {k: v for k, v in enum_to_names(attach_types or {}, "BPF_").items() if not v.startswith("_")}
        set_kernel_names(enum_to_names(map_types, "BPF_MAP_TYPE_"),
                         enum_to_names(prog_types, "BPF_PROG_TYPE_"), attach)


def _hex_key_texts(size: int) -> Callable[[bytes], list[str]]:
    def texts(buf: bytes) -> list[str]:
        return hex_fields(buf, size, len(buf) // size if size else 0)

    return texts


@dataclass
class MapCodec:
    """How one map's keys and values are decoded, rendered and encoded.

    ``has_btf`` is true when the value (at least) is decoded with BTF; ``key_c`` / ``value_c`` are the C
    definitions of the key and value types (None without BTF).
    """

    info: MapInfo
    btf: Btf | None = None
    key_type: int = 0
    value_btf: Btf | None = None
    value_type: int = 0
    raw: bool = False
    ncpus: int = 0
    """Possible CPUs of the machine the values come from (0: this machine's)."""
    _key_dec: Callable[[bytes], Any] | None = field(default=None, repr=False)
    _value_dec: Callable[[bytes], Any] | None = field(default=None, repr=False)
    _chunk_fmt: Callable[[EntryChunk], list[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.key_type and self.btf is not None:
            self._key_dec = compile_decoder(self.btf, self.key_type)
        if self.value_type and self.value_btf is not None:
            self._value_dec = compile_decoder(self.value_btf, self.value_type)

    # -- facts -------------------------------------------------------------------------------------

    @property
    def has_btf(self) -> bool:
        return self._value_dec is not None or self._key_dec is not None

    @property
    def key_c(self) -> str | None:
        return c_type(self.btf, self.key_type) if self._key_dec and self.btf else None

    @property
    def value_c(self) -> str | None:
        return c_type(self.value_btf, self.value_type) if self._value_dec and self.value_btf else None

    @property
    def key_name(self) -> str | None:
        """Short C name of the key type ("struct key_t"), None without BTF."""
        return type_ref(self.btf, self.key_type) if self._key_dec and self.btf else None

    @property
    def value_name(self) -> str | None:
        return type_ref(self.value_btf, self.value_type) if self._value_dec and self.value_btf else None

    @property
    def key_kinds(self) -> dict[str, str]:
        """What the key's fields mean (:mod:`mapexplorer.semantics`): ``{path: kind}``, {} without BTF."""
        return btf_kinds(self.btf, self.key_type) if self._key_dec is not None else {}

    @property
    def value_kinds(self) -> dict[str, str]:
        """What the value's fields mean, like :attr:`key_kinds`."""
        if self._value_dec is None or self.id_values:
            return {}
        return btf_kinds(self.value_btf, self.value_type)

    @property
    def id_values(self) -> bool:
        """Values are ids of inner maps (map-of-maps) or programs (prog_array): numbers unless raw."""
        return not self.raw and self.info.type_name in ID_VALUE_TYPES

    # -- decoding ----------------------------------------------------------------------------------

    def int_layout(self, side: str) -> dict[str, IntLeaf]:
        """The plain integer leaves of keys (``side="key"``) or of one value (per-CPU: of one CPU's slot)
        by column path, as :func:`mapexplorer.btf.decode.int_leaves`; {} when the side is not decoded
        with BTF."""
        try:
            if side == "key" and self._key_dec is not None and self.btf is not None:
                return int_leaves(self.btf, self.key_type)
            if side == "value" and self._value_dec is not None and self.value_btf is not None \
                    and not self.id_values:
                return int_leaves(self.value_btf, self.value_type)
        except BtfError:
            pass
        return {}

    def decode_key(self, b: bytes) -> Any:
        if self._key_dec is not None:
            return self._key_dec(b)
        return hex_list(b[: self.info.key_size])

    def _decode_one(self, b: bytes) -> Any:
        if self.id_values and len(b) >= 4:
            return int.from_bytes(b[:4], "little")
        if self._value_dec is not None:
            return self._value_dec(b)
        return hex_list(b[: self.info.value_size])

    def decode_value(self, b: bytes) -> Any:
        """The value (per-CPU maps: the list of per-CPU values, like :meth:`decode_percpu`)."""
        if self.info.percpu:
            return self.decode_percpu(b)
        return self._decode_one(b)

    def decode_percpu(self, b: bytes) -> list[Any]:
        """One decoded value per possible CPU from a per-CPU lookup buffer."""
        slot = round_up8(self.info.value_size)
        return [self._decode_one(b[i * slot : i * slot + self.info.value_size])
                for i in range(self.ncpus or possible_cpu_count())]

    def entry_json(self, key: bytes, value: bytes | None) -> dict[str, Any]:
        """One entry in bpftool's formatted shape (``values`` with cpu numbers for per-CPU maps)."""
        out: dict[str, Any] = {"key": self.decode_key(key)}
        if value is None or (not value and self.info.value_size):
            out["value"] = None
        elif self.info.percpu:
            out["values"] = [{"cpu": i, "value": v} for i, v in enumerate(self.decode_percpu(value))]
        else:
            out["value"] = self._decode_one(value)
        return out

    def chunk_json(self, chunk: EntryChunk) -> list[str]:
        """One JSON text per entry of the chunk (same content as :meth:`entry_json`), built fast."""
        if self._chunk_fmt is None:
            try:
                self._chunk_fmt = self._build_chunk_fmt()
            except BtfError:
                self._chunk_fmt = self._slow_chunk_json  # decodable one by one, but no bulk plan
        return self._chunk_fmt(chunk)

    def _slow_chunk_json(self, chunk: EntryChunk) -> list[str]:
        return [json.dumps(self.entry_json(k, v), separators=(",", ":")) for k, v in chunk.pairs()]

    def _build_chunk_fmt(self) -> Callable[[EntryChunk], list[str]]:
        info = self.info
        ks, vs = info.key_size, info.value_size
        if self._key_dec is not None and self.btf is not None:
            key_texts = compile_json_texts(self.btf, self.key_type, ks)
        else:
            key_texts = _hex_key_texts(ks)
        value_texts: Callable[[bytes], list[str]] | None
        if self.id_values:
            ids = struct.Struct("<I" + (f"{vs - 4}x" if vs > 4 else ""))

            def id_texts(buf: bytes) -> list[str]:
                return [str(v) for (v,) in ids.iter_unpack(buf)]

            value_texts = id_texts
        elif self._value_dec is not None and self.value_btf is not None:
            slot = round_up8(vs) if info.percpu else vs
            value_texts = compile_json_texts(self.value_btf, self.value_type, slot)
        else:
            value_texts = None
        if info.percpu:
            ncpu = self.ncpus or possible_cpu_count()
            slot = round_up8(vs)

            def fmt_percpu(chunk: EntryChunk) -> list[str]:
                keys = key_texts(chunk.keys)
                if chunk.stride == 0:
                    return [f'{{"key":{k},"value":null}}' for k in keys]
                if value_texts is not None:
                    cells = value_texts(chunk.values)
                else:
                    v = chunk.values
                    trimmed = b"".join(v[i : i + vs] for i in range(0, len(v), slot))
                    cells = hex_fields(trimmed, vs, chunk.count * ncpu)
                values = percpu_values_json(cells, ncpu)
                return ['{"key":' + k + ',"values":' + v + "}" for k, v in zip(keys, values, strict=True)]

            return fmt_percpu
        if value_texts is None:
            def vt(buf: bytes) -> list[str]:
                return hex_fields(buf, vs, len(buf) // vs if vs else 0)

            value_texts = vt
        fast: Callable[[bytes, bytes], list[str]] | None = None
        if self._value_dec is not None and self.value_btf is not None and not self.id_values:
            key = (self.btf, self.key_type) if self._key_dec is not None and self.btf is not None else None
            fast = compile_entry_texts(key, (self.value_btf, self.value_type), ks, vs,
                                       key_text=_hex_key_texts(ks))
        kt, vt2 = key_texts, value_texts

        def fmt(chunk: EntryChunk) -> list[str]:
            if chunk.stride == 0:
                return [f'{{"key":{k},"value":null}}' for k in kt(chunk.keys)]
            if fast is not None and chunk.stride == vs:
                return fast(chunk.keys, chunk.values)
            return ['{"key":' + k + ',"value":' + v + "}" for k, v in zip(kt(chunk.keys), vt2(chunk.values),
                                                                          strict=True)]

        return fmt

    # -- encoding ----------------------------------------------------------------------------------

    def encode_key(self, text: str) -> bytes:
        """Bytes of a key typed by the user: the JSON ``dump --json`` prints, ``hex 01 02 ..``, or for an
        lpm_trie a CIDR (``10.0.0.0/8``). Raises EncodeError naming the field and the reason."""
        ks = self.info.key_size
        if is_hex_text(text):
            return encode_bytes(text.strip()[3:], ks, "key")
        if self.info.type_name == "lpm_trie" and "/" in text:
            return encode_cidr(text, ks)
        if self._key_dec is not None and self.btf is not None:
            return encode(self.btf, self.key_type, text, path="key")
        return encode_bytes(text, ks, "key")

    def encode_value(self, text: str, base: bytes | None = None) -> bytes:
        """Bytes of one value (for per-CPU maps: one CPU's value; the caller places it).

        ``base``: the value's current bytes; struct members the text leaves out keep them.
        """
        vs = self.info.value_size
        if is_hex_text(text):
            return encode_bytes(text.strip()[3:], vs, "value")
        if self.id_values:
            raise EncodeError("value", f"{self.info.type_name} values are fds of other objects: not editable"
                                       " as text")
        if self._value_dec is not None and self.value_btf is not None:
            if base is not None:
                base = base[:vs]
            return encode(self.value_btf, self.value_type, text, path="value", base=base).ljust(vs, b"\0")
        return encode_bytes(text, vs, "value")

    @property
    def spin_lock(self) -> bool:
        """The value holds a ``struct bpf_spin_lock``: reads and writes take ``BPF_F_LOCK``."""
        if self.value_btf is None or not self.value_type or self._value_dec is None:
            return False
        return _has_spin_lock(self.value_btf, self.value_type, 0)


def _has_spin_lock(btf: Btf, type_id: int, depth: int) -> bool:
    from mapexplorer.btf.types import ARRAY, STRUCT, UNION

    if depth > 32:
        return False
    t = btf.type(btf.resolve(type_id))
    if t.kind in (STRUCT, UNION):
        if t.name == "bpf_spin_lock":
            return True
        return any(_has_spin_lock(btf, m.type, depth + 1) for m in t.members)
    if t.kind == ARRAY:
        return _has_spin_lock(btf, t.ref, depth + 1)
    return False


def is_hex_text(text: str) -> bool:
    """``hex 01 02 ..`` (bpftool's way of giving raw bytes)."""
    s = text.strip()
    return s == "hex" or s.startswith(("hex ", "hex\t"))


def encode_cidr(text: str, size: int) -> bytes:
    """An LPM trie key ``{u32 prefixlen; u8 data[]}`` from ``ADDR/LEN`` (IPv4 in 8 bytes, IPv6 in 20)."""
    import ipaddress

    addr_text, _, plen_text = text.strip().partition("/")
    try:
        addr = ipaddress.ip_address(addr_text.strip())
    except ValueError:
        raise EncodeError("key", f"{addr_text.strip()!r} is not an IPv4 or IPv6 address") from None
    data = addr.packed
    if size != 4 + len(data):
        want = "IPv4" if size == 8 else "IPv6" if size == 20 else f"{size - 4}-byte data"
        raise EncodeError("key", f"this trie's keys hold {want}, not IPv{addr.version}")
    try:
        plen = int(plen_text.strip())
    except ValueError:
        raise EncodeError("key.prefixlen", f"{plen_text.strip()!r} is not a prefix length") from None
    if not 0 <= plen <= 8 * len(data):
        raise EncodeError("key.prefixlen", f"{plen} out of range (0..{8 * len(data)})")
    return plen.to_bytes(4, "little") + data


def encode_bytes(text: str, size: int, path: str) -> bytes:
    """Bytes without BTF: hex bytes ("01 02 ff", "0x01 0x02"), a JSON list of bytes as bpftool prints them,
    or one integer (decimal or 0x hex, little-endian) when the size is 1, 2, 4 or 8."""
    s = text.strip()
    items: list[Any]
    if s.startswith("["):
        try:
            items = json.loads(s)
        except (ValueError, RecursionError) as exc:
            raise EncodeError(path, f"not valid JSON: {exc}") from None
        if not isinstance(items, list):
            raise EncodeError(path, "expected a list of bytes")
    else:
        items = s.replace(",", " ").split()
        if len(items) == 1 and size in (1, 2, 4, 8) and _int_token(items[0]):
            n = parse_int(items[0])
            if not -(1 << (8 * size - 1)) <= n < 1 << (8 * size):
                raise EncodeError(path, f"{n} does not fit in {size} bytes")
            return (n & ((1 << 8 * size) - 1)).to_bytes(size, "little")
    out = bytearray()
    for i, item in enumerate(items):
        try:
            if isinstance(item, bool) or not isinstance(item, int | str):
                raise ValueError
            b = item if isinstance(item, int) else int(str(item), 16)
        except ValueError:
            raise EncodeError(f"{path}[{i}]", f"{str(item)[:20]!r} is not a hex byte") from None
        if not 0 <= b <= 255:
            raise EncodeError(f"{path}[{i}]", f"{item!r} is not a byte")
        out.append(b)
    if len(out) != size:
        raise EncodeError(path, f"{len(out)} bytes given, {size} needed")
    return bytes(out)


def _int_token(token: str) -> bool:
    """A decimal or 0x/0o/0b integer (``01`` is not: that is a hex byte)."""
    try:
        parse_int(token)
    except ValueError:
        return False
    return True


def map_codec(info: MapInfo, raw: bool = False) -> MapCodec:
    """The codec of a map: BTF types from its btf_id (struct_ops values from vmlinux), none when ``raw``.

    A map whose BTF cannot be fetched or parsed falls back to bytes (no exception).
    """
    if raw:
        return MapCodec(info, raw=True)
    btf: Btf | None = None
    key_type = value_type = 0
    value_btf: Btf | None = None
    try:
        if info.btf_id:
            btf = program_btf(info.btf_id)
        if info.btf_vmlinux_value_type_id:
            value_btf, value_type = vmlinux(), info.btf_vmlinux_value_type_id
        elif btf is not None and info.btf_value_type_id:
            value_btf, value_type = btf, info.btf_value_type_id
        if btf is not None and info.btf_key_type_id:
            key_type = info.btf_key_type_id
        codec = MapCodec(info, btf, key_type, value_btf, value_type)
        _check_sizes(codec)
        return codec
    except (FileNotFoundError, BtfError):
        return MapCodec(info, raw=False)


def recorded_codec(info: MapInfo, blob: bytes | None, key_type: int, value_type: int, ncpus: int) -> MapCodec:
    """The codec of a recorded map (docs/recording.md): its BTF blob parsed standalone, the recording
    machine's CPU count. Same decoders as a live map; a blob that cannot be parsed gives bytes."""
    btf: Btf | None = None
    if blob:
        try:
            btf = Btf.parse(blob)
        except BtfError:
            btf = None
    try:
        codec = MapCodec(info, btf, key_type if btf else 0, btf if value_type else None,
                         value_type if btf else 0, ncpus=ncpus)
        _check_sizes(codec)
    except BtfError:
        codec = MapCodec(info, ncpus=ncpus)
    return codec


def recorded_map_info(facts: dict[str, Any]) -> MapInfo:
    """A :class:`MapInfo` from a recorded map's facts (docs/recording.md)."""
    return MapInfo(
        id=int(facts["id"]),
        type=int(facts.get("map_type", 0)),
        type_name=str(facts.get("type", "")),
        name=str(facts.get("name", "")),
        key_size=int(facts.get("key_size", 0)),
        value_size=int(facts.get("value_size", 0)),
        max_entries=int(facts.get("max_entries", 0)),
        flags=int(facts.get("flags", 0)),
        btf_id=int(facts.get("btf_id", 0)),
        btf_key_type_id=int(facts.get("btf_key_type_id", 0)),
        btf_value_type_id=int(facts.get("btf_value_type_id", 0)),
        btf_vmlinux_value_type_id=0,
        map_extra=int(facts.get("map_extra", 0)),
        ifindex=int(facts.get("ifindex", 0)),
        memlock=int(facts.get("memlock", 0)),
        frozen=bool(facts.get("frozen", False)),
    )


def codec_for_map_line(m: Any, ncpus: int) -> MapCodec:
    """The codec of a recorded map (a :class:`mapexplorer.recording.MapLine`) on a ``ncpus`` machine."""
    return recorded_codec(recorded_map_info(m.facts), m.btf, m.key_type_id, m.value_type_id, ncpus)


def _check_sizes(codec: MapCodec) -> None:
    info = codec.info
    if codec.btf is not None and codec.key_type and codec.btf.type_size(codec.key_type) != info.key_size:
        codec.key_type, codec._key_dec = 0, None
    if codec.value_btf is not None and codec.value_type and \
            codec.value_btf.type_size(codec.value_type) > info.value_size:
        codec.value_type, codec._value_dec = 0, None


# -- what fields mean (mapexplorer.semantics), from BTF ----------------------------------------------

def fields_from_btf(btf: Btf, type_id: int) -> list[Field]:
    """Every leaf of ``type_id`` (structs and unions walked, arrays of structs as ``arr[]``).

    Raises:
        BtfError: the type is malformed.
    """
    out: list[Field] = []
    _walk(btf, type_id, "", "", out, 0)
    return out


def _names(btf: Btf, tid: int) -> tuple[tuple[str, ...], int]:
    """Type names down the modifier chain and the resolved id."""
    names = []
    for _ in range(MAX_DEPTH * 4):
        t = btf.type(tid)
        if t.name:
            names.append(t.name)
        if t.kind not in MODIFIERS:
            return tuple(names), tid
        tid = t.ref
    raise BtfError(f"modifier chain from [{tid}] too long")


def _walk(btf: Btf, tid: int, path: str, name: str, out: list[Field], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    names, rid = _names(btf, tid)
    t = btf.type(rid)
    if t.kind in (STRUCT, UNION):
        for m in t.members:
            if not m.name:  # an anonymous struct/union: its fields decode as the parent's own
                _walk(btf, m.type, path, name, out, depth + 1)
                continue
            _walk(btf, m.type, f"{path}.{m.name}" if path else m.name, m.name, out, depth + 1)
        return
    if t.kind == ARRAY:
        enames, erid = _names(btf, t.ref)
        et = btf.type(erid)
        if et.kind in (STRUCT, UNION):
            _walk(btf, t.ref, f"{path}[]", name, out, depth + 1)
            return
        try:
            esize = btf.type_size(t.ref)
        except BtfError:
            return
        out.append(Field(path, name, names + enames, t.nelems * esize, esize))
        return
    if t.kind in (INT, ENUM, ENUM64):
        out.append(Field(path, name, names, t.size, 0, t.kind == INT and t.signed))


def btf_kinds(btf: Btf | None, type_id: int) -> dict[str, str]:
    """:func:`kinds_of` the type's leaves; {} without BTF or for a type that cannot be walked."""
    if btf is None or not type_id:
        return {}
    try:
        return kinds_of(fields_from_btf(btf, type_id))
    except BtfError:
        return {}
