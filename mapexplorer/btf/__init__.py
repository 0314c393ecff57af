"""Pure BTF: parse kernel and program BTF blobs (split BTF too), decode bytes of a type into bpftool-shaped
JSON-able values (:mod:`.decode`), print C definitions (:mod:`.cprint`), encode text into bytes
(:mod:`.encode`). No syscalls and no textual here: :mod:`mapexplorer.codec` glues this to the kernel.
"""

from __future__ import annotations

from mapexplorer.btf.types import KIND_NAMES, Btf, BtfError, BtfType, EnumValue, Member

__all__ = ["KIND_NAMES", "Btf", "BtfError", "BtfType", "EnumValue", "Member"]
