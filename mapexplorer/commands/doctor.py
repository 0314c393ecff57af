"""``mapexplorer doctor [--json]``: health findings for every map; exit 0 (none), 3 (warnings), 4 (errors)."""

from __future__ import annotations

import argparse
import json
import sys

from mapexplorer import doctor
from mapexplorer.codec import register_kernel_enum_names
from mapexplorer.commands import require_root


def run(args: argparse.Namespace) -> int:
    require_root()
    register_kernel_enum_names()
    facts = doctor.gather(sample_s=args.sample)
    findings = doctor.diagnose(facts)
    status = doctor.exit_status(findings)
    if args.json:
        out = {"status": status, "maps": len(facts.records), "iterator_unavailable": facts.iterator_reason,
               "findings": [f.to_json() for f in findings]}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return status
    for f in findings:
        print(f"{f.severity:7}  {f.message}")
    errors = sum(f.severity == doctor.ERROR for f in findings)
    summary = (f"{len(facts.records)} maps checked: {errors} error(s), {len(findings) - errors} warning(s)"
               if findings else f"{len(facts.records)} maps checked: no findings")
    if facts.iterator_reason:
        summary += f" (entry counts by reading: {facts.iterator_reason})"
    print(summary)
    return status
