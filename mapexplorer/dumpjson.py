"""bpftool-shaped JSON text pieces for bytes without BTF: lists of ``"0xNN"`` strings, and per-CPU
``[{"cpu": n, "value": ...}, ...]`` arrays. ``codec.MapCodec.chunk_json`` assembles entries from them.

Built for a million entries: a whole chunk of keys is hex-encoded by one C call (``bytes.hex`` with a
separator), so the Python loop only slices and joins strings.
"""

from __future__ import annotations

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
