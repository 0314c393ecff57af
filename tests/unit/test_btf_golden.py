"""Golden files: BTF blobs and entries recorded from real maps (tests/unit/golden/record.py), decoded
without the kernel and compared with what bpftool printed for them (or values by construction for kinds
bpftool cannot print). Both the value decoder and the bulk JSON text path are checked, and encoding the
expected value back gives bytes that decode to the same value.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from mapexplorer.btf import Btf
from mapexplorer.btf.cprint import c_type
from mapexplorer.btf.decode import compile_decoder, compile_entry_texts, compile_json_texts
from mapexplorer.btf.encode import encode

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from btf_cases import normalize  # noqa: E402

CASES = sorted(GOLDEN.glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path) -> None:
    g = load(path)
    btf = Btf.parse(base64.b64decode(g["btf"]))
    btf.validate()
    kt, vt, ks, vs = g["key_type"], g["value_type"], g["key_size"], g["value_size"]
    dec_key = compile_decoder(btf, kt)
    dec_value = compile_decoder(btf, vt)
    slot = (vs + 7) & ~7 if g["percpu"] else vs
    key_texts = compile_json_texts(btf, kt, ks)
    value_texts = compile_json_texts(btf, vt, slot)
    entry_texts = compile_entry_texts((btf, kt), (btf, vt), ks, vs)
    assert g["entries"]
    for e in g["entries"]:
        key, value = bytes.fromhex(e["key"]), bytes.fromhex(e["value"])
        ours_key = dec_key(key)
        if g["percpu"]:
            cells = [value[i * slot : i * slot + vs] for i in range(g["ncpu"])]
            ours = {
                "key": ours_key,
                "values": [{"cpu": i, "value": dec_value(c)} for i, c in enumerate(cells)],
            }
            texts = value_texts(value)
            assert [json.loads(t) for t in texts] == [v["value"] for v in ours["values"]]
        else:
            ours = {"key": ours_key, "value": dec_value(value)}
            (text,) = entry_texts(key, value)
            assert json.loads(text) == ours
            assert json.loads(value_texts(value)[0]) == ours["value"]
        assert json.loads(key_texts(key)[0]) == ours_key
        expected = normalize(e["expected"], ours) if g["source"] == "bpftool" else e["expected"]
        assert ours == expected, f"{path.stem} key {e['key']}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_encode_roundtrip(path: Path) -> None:
    """Encoding a decoded value (as JSON text) gives bytes that decode to the same value."""
    g = load(path)
    btf = Btf.parse(base64.b64decode(g["btf"]))
    vt, vs = g["value_type"], g["value_size"]
    dec = compile_decoder(btf, vt)
    for e in g["entries"]:
        raw = bytes.fromhex(e["value"])[:vs]
        value = dec(raw)
        text = json.dumps(value)
        assert dec(encode(btf, vt, text)) == value


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_c_text(path: Path) -> None:
    g = load(path)
    btf = Btf.parse(base64.b64decode(g["btf"]))
    vt = g["value_type"]
    text = c_type(btf, vt)
    t = btf.type(btf.resolve(vt))
    if btf.type(vt).kind_name in ("struct", "union", "typedef"):
        assert text.endswith(";")
    for m in t.members:
        if m.name:
            assert f" {m.name}" in text or f"*{m.name}" in text
    if path.stem == "test_strarr":
        assert text == "typedef char name16_t[16];"
