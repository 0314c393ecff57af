"""Typed writes to one map: parse KEY / VALUE text, plan an update, delete, push or pop (the entry before
and after, the fields that change), then apply it with the flags the map needs.

Used by the CLI's write commands and by the TUI's write mode (through ``KernelSource``). No textual.

- A map is opened read-only (``BPF_F_RDONLY``) unless the editor is made with ``write=True``.
- Values holding a ``struct bpf_spin_lock`` are read and written with ``BPF_F_LOCK``.
- Per-CPU maps: one CPU's slot is written with ``BPF_F_CPU`` where the kernel has it (probed once);
  otherwise every CPU's value is read again just before the write, the one slot is replaced and the whole
  buffer is written back (the other CPUs get what was read microseconds before: a small race with the
  program's own writes, reported in :attr:`WriteResult.note`).
- Partial structs take their missing members from the value as read just before the write, so a field the
  user did not touch keeps what the program last stored there.
- A refused write raises :class:`WriteError` with the kernel's errno in words; the kernel changed nothing
  (every write is one syscall).
"""

from __future__ import annotations

import errno
import json
import time
from typing import Any

from mapexplorer.btf import BtfError
from mapexplorer.btf.fields import leaves
from mapexplorer.codec import EncodeError, MapCodec, map_codec
from mapexplorer.kernel import maps
from mapexplorer.kernel import syscall as sc
from mapexplorer.writemodel import (
    Change,
    EditForm,
    FormField,
    WriteError,
    WritePlan,
    WriteRequest,
    WriteResult,
    diff,
    flatten,
    form_json,
)
from mapexplorer.writemodel import short as _short

__all__ = ["Change", "EncodeError", "MapEditor", "WriteError", "WritePlan", "WriteResult", "errno_words"]

# Map types whose entries can be removed with lookup_and_delete by key (returns the removed value atomically).
_LOOKUP_AND_DELETE = frozenset({"hash", "percpu_hash", "lru_hash", "lru_percpu_hash"})
PUSH_TYPES = frozenset({"queue", "stack", "bloom_filter"})


_WORDS = {
    errno.E2BIG: "map is full",
    errno.EEXIST: "entry already exists",
    errno.ENOENT: "no such entry",
    errno.EBUSY: "map is busy (already frozen, or memory-mapped writable)",
    errno.ENOSPC: "no space left in the map",
    errno.ENOMEM: "the kernel is out of memory for this map",
    errno.EOPNOTSUPP: "this map type does not support that operation",
    sc.ENOTSUPP: "this map type does not support that operation",
    errno.EINVAL: "the kernel refused it for this map type (invalid argument)",
    errno.EFAULT: "bad address",
}


def errno_words(exc: OSError, info: maps.MapInfo | None = None, *, missing: str = "", op: str = "") -> str:
    """The kernel's errno in words, e.g. ``map is full (E2BIG)``; ``missing`` replaces ENOENT's words."""
    code = exc.errno or 0
    name = errno.errorcode.get(code, "ENOTSUPP" if code == sc.ENOTSUPP else str(code))
    if code == errno.EPERM:
        words = "map is frozen" if info is not None and info.frozen else \
            "not permitted: the map is frozen or read-only for user space"
    elif code == errno.ENOENT and missing:
        words = missing
    elif code == errno.EINVAL and info is not None and info.type_name in ("array", "percpu_array") and \
            op == "delete":
        words = "array entries cannot be deleted (update them to zero instead)"
    else:
        words = _WORDS.get(code, exc.strerror or "failed")
    return f"{words} ({name})"


class TypedMap:
    """A map's types without its fd: text -> bytes, bytes -> decoded values, plans and forms from values
    already read. Pure (no syscall), so forms and plans can also be built from recorded bytes."""

    write = False

    def __init__(self, info: maps.MapInfo, codec: MapCodec, ncpus: int) -> None:
        self.info = info
        self.codec = codec
        self.lock = sc.BPF_F_LOCK if codec.spin_lock else 0
        self.ncpus = ncpus
        self.slot = maps.round_up8(info.value_size)

    # -- text -> bytes -------------------------------------------------------------------------------

    def key(self, text: str) -> bytes:
        """Bytes of a key from the user's text. Raises EncodeError naming the field."""
        return self.codec.encode_key(text)

    def value(self, text: str, base: bytes | None = None) -> bytes:
        """Bytes of one value (one CPU's for per-CPU maps); missing struct members taken from ``base``."""
        return self.codec.encode_value(text, base)

    def decode_key(self, key: bytes | None) -> Any:
        return None if key is None else self.codec.decode_key(key)

    def decode_value(self, raw: bytes | None) -> Any:
        return None if raw is None else self.codec.decode_value(raw)

    def _plan(self, op: str, key: bytes | None, before: bytes | None, after: bytes | None, read_at: float,
              **kw: Any) -> WritePlan:
        before_json = self.decode_value(before)
        after_json = self.decode_value(after)
        seen = kw.pop("seen", None)
        meanwhile: tuple[Change, ...] = ()
        if seen is not None and before is not None and seen != before:
            meanwhile = diff(self.decode_value(seen), before_json, self._prefix())
        return WritePlan(
            op=op, map_id=self.info.id, map_name=self.info.name, type_name=self.info.type_name, key=key,
            key_json=self.decode_key(key), before=before, after=after, before_json=before_json,
            after_json=after_json, changes=diff(before_json, after_json, self._prefix()),
            percpu=self.info.percpu, read_at=read_at, changed_meanwhile=meanwhile, **kw,
        )

    def _prefix(self) -> str:
        return "cpu" if self.info.percpu else "value"

    def _build(self, before: bytes | None, text: str, cpu: int | None, all_cpus: bool) -> bytes:
        """The whole value to write given the current one (None: absent, zeros for members not given)."""
        info = self.info
        if not info.percpu:
            return self.value(text, before)
        buf = bytearray(before if before is not None else bytes(info.value_stride))
        vs, slot = info.value_size, self.slot
        cpus = range(self.ncpus) if all_cpus else [cpu or 0]
        for c in cpus:
            base = bytes(buf[c * slot : c * slot + vs]) if before is not None else None
            buf[c * slot : c * slot + vs] = self.value(text, base)
        return bytes(buf)

    def check_update(self, cpu: int | None, all_cpus: bool) -> None:
        """Raises WriteError for a CPU choice that does not fit the map (per-CPU needs one)."""
        info = self.info
        if info.type_name in PUSH_TYPES:
            raise WriteError(f"{info.type_name} maps have no keys: use push")
        if info.percpu:
            if cpu is None and not all_cpus:
                raise WriteError(f"map {info.id} is per-CPU: say which CPU (--cpu N) or --all-cpus")
            if cpu is not None and not 0 <= cpu < self.ncpus:
                raise WriteError(f"cpu {cpu} does not exist (possible CPUs: 0..{self.ncpus - 1})")
        elif cpu is not None or all_cpus:
            raise WriteError(f"map {info.id} ({info.type_name}) is not per-CPU: no CPU to choose")

    def update_plan(self, key: bytes, before: bytes | None, text: str, *, cpu: int | None = None,
                    all_cpus: bool = False, mode: int = sc.BPF_ANY, seen: bytes | None = None,
                    read_at: float = 0.0) -> WritePlan:
        """The plan of ``key = text`` given the current value ``before`` (None: absent). Per-CPU maps need
        ``cpu`` or ``all_cpus``; ``mode`` is BPF_ANY, BPF_NOEXIST or BPF_EXIST; ``seen``: the value the user
        was looking at (to report changes since).

        Raises:
            EncodeError: the text does not fit (names the field); nothing was written.
            WriteError: a bad request for this map (unknown CPU, missing --cpu).
        """
        self.check_update(cpu, all_cpus)
        info = self.info
        after = self._build(before, text, cpu, all_cpus)
        note = ""
        if info.percpu and cpu is not None and self.ncpus > 1:
            # the probe writes to a throwaway map of its own: only when this editor may write at all
            if self.write and maps.has_cpu_flag():
                note = "this kernel has BPF_F_CPU: only that CPU's slot is written"
            else:
                note = ("other CPUs' values are read again just before the write and rewritten with what was "
                        "read" + ("" if self.write else " (unless the kernel has BPF_F_CPU)"))
                if self.write:
                    note = "no BPF_F_CPU on this kernel: " + note
        return self._plan("update", key, before, after, read_at, flags=mode | self.lock, value_text=text,
                          cpu=cpu, all_cpus=all_cpus, note=note, seen=seen)

    def form_for(self, op: str, key: bytes | None, seen: bytes | None, cpu: int | None = None) -> EditForm:
        """An edit form for ``key``'s value ``seen`` (``update``), a new entry (``add``) or a push
        (``push``). Fields come from the value's BTF (one per leaf) or, without BTF, one field for the
        whole value."""
        info = self.info
        codec = self.codec
        vs, slot = info.value_size, self.slot
        ncpu = self.ncpus if info.percpu else 1

        def slot_of(c: int) -> bytes | None:
            if seen is None:
                return None
            return seen[c * slot : c * slot + vs] if info.percpu else seen

        if codec.has_btf and codec.value_btf is not None and codec.value_type and not codec.id_values:
            btf, vt = codec.value_btf, codec.value_type
            leaf_list = leaves(btf, vt)
            fields = [FormField(lf.path, lf.c_type, lf.kind, "", lf.choices) for lf in leaf_list]
            value_c = codec.value_name or ""
        else:
            leaf_list = []
            fields = [FormField("", f"{vs} bytes" + (" (integer)" if vs in (1, 2, 4, 8) else ""), "raw", "")]
            value_c = f"{vs} bytes, no BTF"

        def texts_of(raw: bytes | None) -> tuple[str, ...]:
            if raw is None:
                raw = bytes(vs)
            if not leaf_list:
                if vs in (1, 2, 4, 8):
                    return (str(int.from_bytes(raw[:vs], "little")),)
                return ("hex " + raw[:vs].hex(" "),)
            try:
                decoded = codec._decode_one(raw)
            except (ValueError, BtfError):
                decoded = None
            flat = flatten(decoded) if decoded is not None else {}
            return tuple(_field_text(flat.get(f.path)) for f in fields)

        cpu_texts = tuple(texts_of(slot_of(c)) for c in range(ncpu))
        shown = cpu_texts[cpu if cpu is not None and cpu < ncpu else 0]
        fields = [FormField(f.path, f.c_type, f.kind, t, f.choices)
                  for f, t in zip(fields, shown, strict=True)]
        frozen_fields = tuple(fields)
        all_texts = {f.path: f.text for f in fields}
        base = slot_of(cpu if cpu is not None and cpu < ncpu else 0)

        def check(path: str, text: str) -> str | None:
            try:
                self.value(form_json(frozen_fields, {path: text}, all_texts), base)
            except (EncodeError, BtfError) as exc:
                return str(exc)
            return None

        def check_key(text: str) -> str | None:
            try:
                self.key(text)
            except (EncodeError, BtfError) as exc:
                return str(exc)
            return None

        return EditForm(
            op=op, map_id=info.id, map_name=info.name, type_name=info.type_name, value_c=value_c,
            fields=frozen_fields, check=check, key=key,
            key_text="" if key is None else _field_text(self.decode_key(key)),
            key_c=codec.key_name or f"{info.key_size} bytes", check_key=check_key, seen=seen,
            percpu=info.percpu, ncpus=ncpu, cpu=cpu, cpu_texts=cpu_texts,
        )


class MapEditor(TypedMap):
    """One map opened for typed reads and writes (read-only unless ``write``); close it or use ``with``."""

    def __init__(self, map_id: int, *, write: bool = False, raw: bool = False) -> None:
        self.write = write
        try:
            self.map = maps.Map.open(map_id, write=write)
        except FileNotFoundError:
            raise WriteError(f"map {map_id} is gone", errno.ENOENT) from None
        except PermissionError as exc:
            if not write:
                raise
            raise WriteError(f"map {map_id} cannot be opened for writing ({errno_words(exc)})",
                             errno.EPERM) from None
        info = self.map.info
        super().__init__(info, map_codec(info, raw=raw), maps.possible_cpu_count())

    def close(self) -> None:
        self.map.close()

    def __enter__(self) -> MapEditor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------------------------------

    def read(self, key: bytes | None) -> bytes | None:
        """The current value (per-CPU: the whole buffer; ``None`` key: queue/stack head); None if absent."""
        try:
            return self.map.lookup(key, self.lock if key is not None else 0)
        except FileNotFoundError:
            return None
        except OSError as exc:
            words = errno_words(exc, self.info)
            raise WriteError(f"cannot read map {self.info.id}: {words}", exc.errno or 0) from None

    def next_key(self, key: bytes | None) -> bytes | None:
        try:
            return self.map.next_key(key)
        except OSError as exc:
            raise WriteError(f"map {self.info.id}: {errno_words(exc, self.info)}", exc.errno or 0) from None

    # -- plans ---------------------------------------------------------------------------------------

    def plan_update(self, key: bytes, text: str, *, cpu: int | None = None, all_cpus: bool = False,
                    mode: int = sc.BPF_ANY, seen: bytes | None = None) -> WritePlan:
        """Prepare ``key = text`` against the value read now (see :meth:`TypedMap.update_plan`)."""
        self.check_update(cpu, all_cpus)
        read_at = time.monotonic()
        return self.update_plan(key, self.read(key), text, cpu=cpu, all_cpus=all_cpus, mode=mode, seen=seen,
                                read_at=read_at)

    def plan_delete(self, key: bytes) -> WritePlan:
        read_at = time.monotonic()
        before = self.read(key)
        if before is None:
            raise WriteError(f"map {self.info.id}: no entry with key {_short(self.decode_key(key))}",
                             errno.ENOENT)
        return self._plan("delete", key, before, None, read_at, flags=0)

    def plan_push(self, text: str, *, mode: int = sc.BPF_ANY) -> WritePlan:
        if self.info.type_name not in PUSH_TYPES:
            raise WriteError(f"map {self.info.id} is a {self.info.type_name}: push works on queue, stack and "
                             "bloom_filter maps")
        value = self.value(text)
        head = self.read(None) if self.info.type_name != "bloom_filter" else None
        return self._plan("push", None, head, value, time.monotonic(), flags=mode, value_text=text)

    def plan_pop(self) -> WritePlan:
        if self.info.type_name not in ("queue", "stack"):
            t = self.info.type_name
            raise WriteError(f"map {self.info.id} is a {t}: pop works on queue and stack maps")
        read_at = time.monotonic()
        head = self.read(None)
        if head is None:
            raise WriteError(f"{self.info.type_name} {self.info.id} is empty", errno.ENOENT)
        return self._plan("pop", None, head, None, read_at, flags=0)

    # -- apply ---------------------------------------------------------------------------------------

    def apply(self, plan: WritePlan) -> WriteResult:
        """Do the write. Raises WriteError (errno in words) when the kernel refuses: the map is unchanged."""
        if not self.write:
            raise WriteError("the map was opened read-only: no write is possible")
        if plan.map_id != self.info.id:
            raise WriteError(f"plan for map {plan.map_id} applied to map {self.info.id}")
        return {"update": self._apply_update, "delete": self._apply_delete, "push": self._apply_push,
                "pop": self._apply_pop}[plan.op](plan)

    def _refused(self, exc: OSError, what: str, missing: str = "") -> WriteError:
        try:
            info = maps.map_info(self.map.fd)  # frozen now?
        except OSError:
            info = self.info
        words = errno_words(exc, info, missing=missing, op=what)
        return WriteError(f"{what} refused: {words}; map unchanged",
                          exc.errno or 0)

    def _apply_update(self, plan: WritePlan) -> WriteResult:
        assert plan.key is not None and plan.value_text is not None
        info = self.info
        note = ""
        t0 = time.monotonic()
        fresh = self.read(plan.key)
        value = self._build(fresh, plan.value_text, plan.cpu, plan.all_cpus)
        cpu_flag = info.percpu and plan.cpu is not None and maps.has_cpu_flag()
        try:
            if cpu_flag:
                c = plan.cpu or 0
                slot = value[c * self.slot : c * self.slot + info.value_size]
                self.map.update(plan.key, slot, plan.flags | sc.BPF_F_CPU | (c << 32))
            else:
                self.map.update(plan.key, value, plan.flags)
        except OSError as exc:
            missing = "no entry with this key: deleted meanwhile? (BPF_EXIST only replaces an entry)" \
                if plan.flags & sc.BPF_EXIST else ""
            raise self._refused(exc, "update", missing) from None
        t1 = time.monotonic()
        if info.percpu and plan.cpu is not None and not cpu_flag and self.ncpus > 1:
            others = ", ".join(f"cpu{c}" for c in range(self.ncpus) if c != plan.cpu)
            what = "the values" if fresh is not None else "zeros (new entry)"
            note = f"{others} rewritten with {what} read {(t1 - t0) * 1000:.2f} ms before the write"
        after = self.read(plan.key)
        after_json = self.decode_value(after)
        changes = diff(self.decode_value(fresh), after_json, self._prefix())
        n = len(changes)
        msg = f"updated map {info.id} key {_short(plan.key_json)}: {n} field{'s' if n != 1 else ''} changed"
        return WriteResult(plan, msg, after, after_json, note=note, changes=changes,
                           before_json=self.decode_value(fresh))

    def _apply_delete(self, plan: WritePlan) -> WriteResult:
        assert plan.key is not None
        info = self.info
        removed: bytes | None = None
        try:
            if info.type_name in _LOOKUP_AND_DELETE:
                try:
                    removed = self.map.lookup_and_delete(plan.key, self.lock)
                except OSError as exc:
                    if not sc.is_unsupported(exc):
                        raise
            if removed is None:
                removed = self.read(plan.key)
                self.map.delete(plan.key)
        except OSError as exc:
            raise self._refused(exc, "delete", "no such entry (deleted meanwhile)") from None
        msg = f"deleted key {_short(plan.key_json)} from map {info.id}"
        return WriteResult(plan, msg, removed_json=self.decode_value(removed))

    def _apply_push(self, plan: WritePlan) -> WriteResult:
        assert plan.after is not None
        info = self.info
        try:
            self.map.update(None, plan.after, plan.flags)
        except OSError as exc:
            raise self._refused(exc, "push") from None
        head = self.read(None) if info.type_name != "bloom_filter" else None
        msg = f"pushed {_short(plan.after_json)} onto {info.type_name} {info.id}"
        return WriteResult(plan, msg, head, self.decode_value(head))

    def _apply_pop(self, plan: WritePlan) -> WriteResult:
        info = self.info
        try:
            removed = self.map.lookup_and_delete(None)
        except OSError as exc:
            raise self._refused(exc, "pop", f"{info.type_name} is empty") from None
        head = self.read(None)
        removed_json = self.decode_value(removed)
        msg = f"popped {_short(removed_json)} from {info.type_name} {info.id}"
        return WriteResult(plan, msg, head, self.decode_value(head), removed_json=removed_json)

    # -- requests and forms (what the TUI asks the source for) ----------------------------------------

    def plan(self, req: WriteRequest) -> WritePlan:
        """The plan of a request (the key typed as text when ``req.key`` is None)."""
        key = req.key
        if key is None and req.key_text is not None:
            key = self.key(req.key_text)
        if req.op == "update":
            if key is None or req.value_text is None:
                raise WriteError("update needs a key and a value")
            return self.plan_update(key, req.value_text, cpu=req.cpu, all_cpus=req.all_cpus, mode=req.mode,
                                    seen=req.seen)
        if req.op == "delete":
            if key is None:
                raise WriteError("delete needs a key")
            return self.plan_delete(key)
        if req.op == "push":
            return self.plan_push(req.value_text or "")
        if req.op == "pop":
            return self.plan_pop()
        raise WriteError(f"unknown write {req.op!r}")

    def form(self, op: str, key: bytes | None = None, cpu: int | None = None) -> EditForm:
        """:meth:`form_for` with ``key``'s value read now (``update``)."""
        seen = self.read(key) if op == "update" else None
        if op == "update" and seen is None:
            raise WriteError(f"map {self.info.id}: that entry is gone", errno.ENOENT)
        return self.form_for(op, key, seen, cpu)


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(", ", ": "))


def open_form(map_id: int, op: str, key: bytes | None = None, cpu: int | None = None) -> EditForm:
    """An edit form for a map (opened for writing, closed again before returning)."""
    with MapEditor(map_id, write=True) as ed:
        return ed.form(op, key, cpu)


def plan_request(req: WriteRequest) -> WritePlan:
    """The plan of a request, read from the kernel now. Raises EncodeError / WriteError."""
    with MapEditor(req.map_id, write=True) as ed:
        return ed.plan(req)


def apply_plan(plan: WritePlan) -> WriteResult:
    """Do a planned write. Raises WriteError with the errno in words (the map is then unchanged)."""
    with MapEditor(plan.map_id, write=True) as ed:
        return ed.apply(plan)
