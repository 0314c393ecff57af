"""Compatibility re-exports: the data seam now lives in job-sized modules.

- :mod:`mapexplorer.model`: MapRow, ListSnapshot, MapFacts, MapSnapshot, MapGone, the MapSource protocol;
- :mod:`mapexplorer.decoders`: Decoder, RawDecoder, TypeAwareDecoder, Kallsyms, ifname, lpm_cidr;
- :mod:`mapexplorer.maptypes`: the map-type sets;
- :mod:`mapexplorer.kernel_source`: KernelSource (the live kernel);
- :mod:`mapexplorer.replay_source`: ReplaySource (a recording, docs/recording.md).

Import from those modules in new code: this one pulls in the kernel source, so the UI must not import it.
"""

from __future__ import annotations

from mapexplorer.decoders import (
    KERNEL_SPACE,
    Decoder,
    Kallsyms,
    RawDecoder,
    TypeAwareDecoder,
    hex_bytes,
    ifname,
    lpm_cidr,
)
from mapexplorer.kernel_source import KernelSource
from mapexplorer.maptypes import (
    MAP_OF_MAPS_TYPES,
    PEEK_TYPES,
    PERCPU_TYPES,
    REWRITTEN_TYPES,
    STREAM_TYPES,
)
from mapexplorer.model import WHY_NOT_LISTED, ListSnapshot, MapFacts, MapGone, MapRow, MapSnapshot, MapSource

__all__ = [
    "KERNEL_SPACE",
    "MAP_OF_MAPS_TYPES",
    "PEEK_TYPES",
    "PERCPU_TYPES",
    "REWRITTEN_TYPES",
    "STREAM_TYPES",
    "WHY_NOT_LISTED",
    "Decoder",
    "Kallsyms",
    "KernelSource",
    "ListSnapshot",
    "MapFacts",
    "MapGone",
    "MapRow",
    "MapSnapshot",
    "MapSource",
    "RawDecoder",
    "TypeAwareDecoder",
    "hex_bytes",
    "ifname",
    "lpm_cidr",
]
