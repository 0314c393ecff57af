"""Record the BTF golden files: create real maps (BCC and hand-made BTF), fill them, and store for each
the kernel's BTF blob, the raw entries and the expected decoded values (bpftool's "formatted" view, or
values by construction where bpftool cannot print the kind). Run as root from the repository root:

    sudo .venv/bin/python tests/unit/golden/record.py
"""

from __future__ import annotations

import base64
import json
import sys
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from btf_cases import LiveMap, bpftool_formatted, load_bcc_maps, load_handmade_maps  # noqa: E402

from mapexplorer.kernel.maps import possible_cpu_count  # noqa: E402


def record(m: LiveMap) -> dict:
    ref = bpftool_formatted(m.map_id) if m.expected is None else None
    entries = []
    for i, (k, v) in enumerate(m.entries):
        expected = m.expected[i] if m.expected is not None else ref[k]
        entries.append({"key": k.hex(), "value": v.hex(), "expected": expected})
    return {
        "name": m.name,
        "source": "construction" if m.expected is not None else "bpftool",
        "btf": base64.b64encode(m.btf).decode(),
        "key_type": m.key_type,
        "value_type": m.value_type,
        "key_size": m.key_size,
        "value_size": m.value_size,
        "percpu": m.percpu,
        "ncpu": possible_cpu_count() if m.percpu else 1,
        "entries": entries,
    }


def main() -> int:
    with ExitStack() as stack:
        live = load_bcc_maps(stack) + load_handmade_maps(stack)
        for m in live:
            path = HERE / f"{m.name}.json"
            path.write_text(json.dumps(record(m), indent=1) + "\n")
            print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
