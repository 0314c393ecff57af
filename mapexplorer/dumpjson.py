"""bpftool-shaped JSON text for map entries without BTF: keys and values as lists of ``"0xNN"`` strings,
per-CPU values as ``[{"cpu": n, "value": [...]}, ...]`` over every possible CPU.

Built for a million entries: a whole chunk of keys is hex-encoded by one C call (``bytes.hex`` with a
separator), so the Python loop only slices and joins strings.
"""

from __future__ import annotations

from collections.abc import Callable

from mapexplorer.kernel.maps import EntryChunk, MapInfo, possible_cpu_count, round_up8

_SEP = '","0x'


def hex_fields(buf: bytes, size: int, count: int) -> list[str]:
    """``count`` JSON arrays (as text) of ``size`` bytes each, e.g. ``["0x01","0x00"]``."""
    if size == 0:
        return ["[]"] * count
    text = buf.hex("|").replace("|", _SEP)
    step = size * 7  # each byte becomes 2 hex digits + a 5-char separator
    width = step - 5
    return ['["0x' + text[i * step : i * step + width] + '"]' for i in range(count)]


def hex_list(data: bytes) -> list[str]:
    """Bytes as bpftool's no-BTF JSON value: ``["0x01", "0x00", ...]``."""
    return [f"0x{b:02x}" for b in data]


def percpu_values_json(values: list[str], ncpu: int) -> list[str]:
    """Group per-CPU value texts (ncpu consecutive per entry) into bpftool's ``values`` arrays."""
    out = []
    for i in range(0, len(values), ncpu):
        cells = ",".join(f'{{"cpu":{c},"value":{values[i + c]}}}' for c in range(ncpu))
        out.append(f"[{cells}]")
    return out


def raw_chunk_formatter(info: MapInfo) -> Callable[[EntryChunk], list[str]]:
    """A function turning an EntryChunk of this map into one JSON object text per entry."""
    ks, vs = info.key_size, info.value_size
    if info.percpu:
        ncpu = possible_cpu_count()
        slot = round_up8(vs)

        def fmt_percpu(chunk: EntryChunk) -> list[str]:
            keys = hex_fields(chunk.keys, ks, chunk.count)
            if slot == vs:
                cells = hex_fields(chunk.values, vs, chunk.count * ncpu)
            else:
                v = chunk.values
                trimmed = b"".join(v[i : i + vs] for i in range(0, len(v), slot))
                cells = hex_fields(trimmed, vs, chunk.count * ncpu)
            values = percpu_values_json(cells, ncpu)
            return [f'{{"key":{k},"values":{v}}}' for k, v in zip(keys, values, strict=True)]

        return fmt_percpu

    def fmt(chunk: EntryChunk) -> list[str]:
        keys = hex_fields(chunk.keys, ks, chunk.count)
        if chunk.stride == 0:
            return [f'{{"key":{k},"value":null}}' for k in keys]
        values = hex_fields(chunk.values, chunk.stride, chunk.count)
        return ['{"key":' + k + ',"value":' + v + "}" for k, v in zip(keys, values, strict=True)]

    return fmt
