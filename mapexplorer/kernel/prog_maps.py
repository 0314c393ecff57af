"""Which maps a program reads and which it writes, from its translated instructions.

``xlated_prog_insns`` carries every map reference as an ld_imm64 whose ``src_reg`` is BPF_PSEUDO_MAP_FD
(a map pointer) or BPF_PSEUDO_MAP_VALUE (a pointer into the map's value, global data) and whose ``imm`` is
the map id. A forward data-flow pass over the instructions follows those pointers through registers and
stack spills to the calls and stores that use them:

- a call to a function that changes a map (``*_update_elem``, ``*_delete_elem``, ``*_push_elem``,
  ``*_pop_elem``, ``bpf_ringbuf_output`` / ``_reserve``, ``*event_output``, ``bpf_get_stackid``,
  ``bpf_sock_map_update`` ...) with the map as an argument is a **write**;
- any other use is a **read** (lookups, peeks, tail calls, redirects, lookups the verifier inlined as
  pointer arithmetic on the map);
- a store through a pointer returned by a lookup (or into global data) is a **probable write**: the
  pointer may be to a value the program only just created, but usually it is an in-place update.

Calls are named through kallsyms (:mod:`mapexplorer.kernel.kallsyms`); where the kernel hides the
instructions or the call addresses, the result says why instead of guessing.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from mapexplorer.kernel.kallsyms import CallTable

BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_CALL = 1

_WRITES = re.compile(
    r"update_elem|delete_elem|push_elem|pop_elem|sock_map_update|sock_hash_update|ringbuf_output|"
    r"ringbuf_reserve|event_output|get_stackid|storage_delete"
)
_RETURNS_VALUE = re.compile(r"lookup_elem|lookup_percpu_elem|storage_get|get_local_storage|ringbuf_reserve")

_EMPTY: frozenset[int] = frozenset()

# References are ints: map_id * 4 + kind. A pointer to the map itself, into one of its values, or one
# loaded out of a value (an inner map of a map-of-maps, a per-CPU value before this_cpu_ptr, a kptr).
_MAP, _VALUE, _LOADED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class MapAccess:
    """How one program uses one map."""

    map_id: int
    read: bool = False
    write: bool = False
    """A call that changes the map (update, delete, push, ringbuf output/reserve, perf event output ...)."""
    probable_write: bool = False
    """A store through a pointer into one of the map's values (marked as probable)."""

    @property
    def mode(self) -> str:
        """``r``, ``w``, ``rw``, ``w?`` or ``rw?``; ``?`` when the use could not be told."""
        w = "w" if self.write else ("w?" if self.probable_write else "")
        return ("r" if self.read else "") + w or "?"

    @property
    def writes(self) -> bool:
        return self.write or self.probable_write


@dataclass(frozen=True, slots=True)
class ProgMaps:
    """Every map one program references, each with its access, and why some could not be told."""

    prog_id: int
    maps: tuple[MapAccess, ...]
    hidden: str = ""
    """Why reads and writes are unknown ("" when they were derived from the instructions)."""

    def access(self, map_id: int) -> MapAccess | None:
        for a in self.maps:
            if a.map_id == map_id:
                return a
        return None


def classify_call(name: str | None) -> tuple[bool, bool]:
    """(writes its map argument, returns a pointer into a value of its first argument's map)."""
    if name is None:
        return False, False
    return bool(_WRITES.search(name)), bool(_RETURNS_VALUE.search(name))


_State = tuple[tuple[frozenset[int], ...], tuple[tuple[int, frozenset[int]], ...]]


def _merge(a: _State, b: _State) -> _State:
    regs = tuple(x | y for x, y in zip(a[0], b[0], strict=True))
    if a[1] == b[1]:
        return regs, a[1]
    stack = dict(a[1])
    for off, refs in b[1]:
        stack[off] = stack.get(off, _EMPTY) | refs
    return regs, tuple(sorted(stack.items()))


def analyze(insns: bytes, calls: CallTable, prog_id: int = 0, map_ids: tuple[int, ...] = ()) -> ProgMaps:
    """Derive each referenced map's access from translated instructions.

    Args:
        insns: ``xlated_prog_insns`` bytes (8 bytes per instruction, little-endian).
        calls: resolves helper-call immediates to kernel function names.
        prog_id: copied into the result.
        map_ids: the program's map ids from its info; maps never referenced by an instruction (bound with
            BPF_PROG_BIND_MAP, or reached only as inner maps) are listed with an unknown (``?``) access.
    """
    code_list = list(struct.iter_unpack("<BBhi", insns[: len(insns) - len(insns) % 8]))
    n = len(code_list)
    read: set[int] = set()
    write: set[int] = set()
    probable: set[int] = set()
    seen: set[int] = set()
    names_hidden = bool(calls.hidden)

    start: _State = (tuple([_EMPTY] * 11), ())
    states: dict[int, _State] = {0: start}
    work = [0]
    while work:
        pc = work.pop()
        regs_t, stack_t = states[pc]
        regs = list(regs_t)
        stack = dict(stack_t)
        code, rr, off, imm = code_list[pc]
        dst, src = rr & 0xF, rr >> 4
        cls = code & 7
        succ: tuple[int, ...] = (pc + 1,)
        if cls == 0:  # LD
            if code == 0x18:
                succ = (pc + 2,)
                if src == BPF_PSEUDO_MAP_FD:
                    seen.add(imm)
                    regs[dst] = frozenset((imm * 4 + _MAP,))
                elif src == BPF_PSEUDO_MAP_VALUE:
                    seen.add(imm)
                    read.add(imm)
                    regs[dst] = frozenset((imm * 4 + _VALUE,))
                else:
                    regs[dst] = _EMPTY
            else:  # legacy packet loads write r0
                regs[0] = _EMPTY
        elif cls == 1:  # LDX
            dw = (code & 0x18) == 0x18
            if src == 10:
                regs[dst] = stack.get(off, _EMPTY) if dw else _EMPTY
            elif dw and regs[src]:
                # a u64 loaded out of a map value is a pointer only when the verifier put one there: an inner
                # map (stores through it go to the inner map, not this one) or a per-CPU value pointer
                # (which becomes a value pointer again through the per-CPU move below)
                regs[dst] = frozenset((r & ~3) | _LOADED for r in regs[src] if r & 3)
            else:
                regs[dst] = _EMPTY
        elif cls in (2, 3):  # ST, STX
            mode = code & 0xE0
            if dst == 10:
                if cls == 3 and mode == 0x60 and (code & 0x18) == 0x18 and regs[src]:
                    stack[off] = regs[src]
                else:
                    stack.pop(off, None)
            else:
                for r in regs[dst]:
                    if r & 3 == _VALUE:
                        probable.add(r >> 2)
            if cls == 3 and mode == 0xC0:  # atomics: fetch variants overwrite src, cmpxchg r0
                if imm & 1:
                    regs[src] = _EMPTY
                if imm == 0xF1:
                    regs[0] = _EMPTY
        elif cls in (4, 7):  # ALU, ALU64
            op = code & 0xF0
            x = code & 0x08
            if op == 0xB0 and cls == 7 and x:
                if off == -1:  # BPF_MOV64_PERCPU_REG: this CPU's slot of a per-CPU value
                    regs[dst] = frozenset((r & ~3) | _VALUE for r in regs[src] if r & 3)
                else:
                    regs[dst] = regs[src]
            elif op in (0x00, 0x10) and cls == 7:
                refs = set()
                for reg in (dst, src) if x else (dst,):
                    for r in regs[reg]:
                        if r & 3 == _MAP:
                            read.add(r >> 2)  # arithmetic on a map pointer: an inlined lookup
                            r |= _VALUE
                        refs.add(r)
                regs[dst] = frozenset(refs)
            else:
                regs[dst] = _EMPTY
        else:  # JMP, JMP32
            op = code & 0xF0
            if op == 0x80 and cls == 5:  # CALL
                if src == 0:
                    name = calls.name_of(imm)
                    writes, returns_value = classify_call(name)
                    ret: set[int] = set()
                    for reg in range(1, 6):
                        for r in regs[reg]:
                            if r & 3 != _MAP or names_hidden:
                                continue  # only a map pointer names the map a helper works on
                            mid = r >> 2
                            (write if writes else read).add(mid)
                            if returns_value and reg == 1:
                                ret.add(mid * 4 + _VALUE)
                    regs[0] = frozenset(ret)
                else:
                    regs[0] = _EMPTY
                    if src == BPF_PSEUDO_CALL:
                        target = pc + 1 + imm
                        if 0 <= target < n and target not in states:
                            states[target] = start
                            work.append(target)
                for reg in range(1, 6):
                    regs[reg] = _EMPTY
            elif op == 0x90:  # EXIT
                succ = ()
            elif op == 0x00:  # JA
                succ = (pc + 1 + (imm if cls == 6 else off),)
            else:
                succ = (pc + 1, pc + 1 + off)
        out: _State = (tuple(regs), tuple(sorted(stack.items())) if stack else ())
        for s in succ:
            if not 0 <= s < n:
                continue
            old = states.get(s)
            new = out if old is None else _merge(old, out)
            if new != old:
                states[s] = new
                work.append(s)

    hidden = ""
    if names_hidden:
        hidden = calls.hidden
    accesses = [
        MapAccess(
            mid, read=mid in read, write=mid in write, probable_write=mid in probable and mid not in write
        )
        for mid in sorted(seen | set(map_ids))
    ]
    if not names_hidden:
        # referenced but used in no call we could name (e.g. only passed to a kfunc): a read
        accesses = [
            a if a.read or a.writes or a.map_id not in seen else MapAccess(a.map_id, read=True)
            for a in accesses
        ]
    return ProgMaps(prog_id, tuple(accesses), hidden)


def unknown(prog_id: int, map_ids: tuple[int, ...], why: str) -> ProgMaps:
    """The result for a program whose instructions the kernel does not give: every map ``?``."""
    return ProgMaps(prog_id, tuple(MapAccess(m) for m in sorted(map_ids)), why)
