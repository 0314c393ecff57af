"""Demo BPF programs that populate every map type, and the session that loads and removes them.

``DemoSession`` is the API (used by ``mapexplorer demo`` and ``mapexplorer --demo``); ``CATALOG``
lists the 33 demos. BCC is imported only when a session starts.
"""

from __future__ import annotations

from mapexplorer.demo_bpf.catalog import BY_TYPE, CATALOG, DemoSpec
from mapexplorer.demo_bpf.session import DemoEnvironment, DemoSession, DemoStatus, DemoSummary

__all__ = ["BY_TYPE", "CATALOG", "DemoEnvironment", "DemoSession", "DemoSpec", "DemoStatus", "DemoSummary"]
