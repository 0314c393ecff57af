"""Reading a live map's histograms: the :class:`~mapexplorer.histogram.MapShape` of a map from its codec,
and every histogram in it from one full read (batch lookups). Used by ``mapexplorer hist`` and the TUI's
data source. No textual here.
"""

from __future__ import annotations

from mapexplorer.codec import MapCodec
from mapexplorer.histdetect import MapShape, detect
from mapexplorer.histogram import LINEAR, LOG2, HistSet, HistSpec, collect
from mapexplorer.kernel.maps import Map


def map_shape(codec: MapCodec) -> MapShape:
    """What histogram detection needs from a map: its name, type, sizes and (when decodable) BTF types."""
    info = codec.info
    btf = codec.value_btf if codec.value_btf is not None and codec.value_btf is codec.btf else None
    return MapShape(info.name, info.type_name, info.key_size, info.value_size, btf,
                    codec.key_type if btf is not None else 0, codec.value_type if btf is not None else 0)


def hist_spec(codec: MapCodec, *, guess: bool = True, linear: bool | None = None) -> HistSpec | None:
    """The map's histogram shape: the guess first; when ``guess`` is False (the user asked for a histogram
    view), any integer-keyed counter map or integer array value. ``linear`` forces the bucket scale."""
    shape = map_shape(codec)
    spec = detect(shape, guess=True) or (None if guess else detect(shape, guess=False))
    if spec is not None and linear is not None:
        spec = spec.with_scale(LINEAR if linear else LOG2)
    return spec


def read_hists(m: Map, codec: MapCodec, spec: HistSpec) -> HistSet:
    """Every histogram in the map now (one read of all entries, decoded with the codec)."""
    entries = ((codec.decode_key(k), codec.decode_value(v)) for k, v in m.entries())
    return collect(spec, entries, percpu=m.info.percpu)
