"""``mapexplorer hist MAP``: a histogram map printed as BCC prints it (``print_log2_hist`` /
``print_linear_hist`` rows: ranges, counts, star bars), plus a percentile line; ``--json`` gives the buckets
and percentiles. Per-key histograms (BCC struct keys ending in ``slot``, libbpf-tools ``slots[]`` values)
print one section per key, like BCC; ``--key K`` picks one, ``--sum`` adds them up.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mapexplorer.codec import map_codec
from mapexplorer.commands import open_map_arg, require_root
from mapexplorer.errors import UserError
from mapexplorer.histogram import Histogram, HistSet, HistSpec, key_label
from mapexplorer.histread import hist_spec, read_hists


def _section(spec: HistSpec) -> str:
    if spec.kind == "struct_slot_key":
        return ", ".join(spec.group_fields)
    return "key"


def _print_text(hs: HistSet, picked: list[tuple[Any, Histogram]], label: str | None) -> None:
    lines: list[str] = []
    for key, h in picked:
        if key is not None and hs.per_key:
            lines += ["", f"{_section(hs.spec)} = {key_label(key)}"]
        lines += h.bcc_lines(label)
        lines.append(h.percentile_line())
    print("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    require_root()
    with open_map_arg(args.map) as m:
        info = m.info
        codec = map_codec(info)
        spec = hist_spec(codec, guess=False, linear=True if args.linear else None)
        if spec is None:
            key = codec.key_name or f"{info.key_size}B"
            what = f"key {key}, value {codec.value_name or f'{info.value_size}B'}"
            raise UserError(f"map {info.id} ({info.type_name} {info.name or '-'}, {what}) is not a histogram:"
                            " it needs an integer key with integer counts, a struct key ending in 'slot',"
                            " or an integer array value")
        hs = read_hists(m, codec, spec)
    picked: list[tuple[Any, Histogram]]
    if args.key is not None:
        if not hs.per_key:
            raise UserError(f"map {info.id} holds one histogram: --key applies to per-key histograms")
        found = hs.find(args.key)
        if found is None:
            known = ", ".join(key_label(k) for k, _ in list(hs.groups.values())[:8]) or "none"
            raise UserError(f"no histogram with key {args.key} in map {info.id} (keys: {known})")
        picked = [found]
    elif args.sum or not hs.per_key:
        picked = [(None, hs.sum())]
    else:
        picked = list(hs.groups.values())
    if hs.dropped:
        print(f"mapexplorer: {hs.dropped} samples in slots out of range were left out", file=sys.stderr)
    hidden = sum(h.hidden for _, h in picked)
    if hidden:
        print(f"mapexplorer: {hidden} samples in slot 0 are not shown (BCC's printer skips slot 0)",
              file=sys.stderr)
    if args.json:
        out = {"map": info.id, "name": info.name, "kind": spec.kind, "reason": spec.reason,
               "histograms": [{"key": k, **h.to_json()} for k, h in picked]}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0
    _print_text(hs, picked, args.label)
    return 0
