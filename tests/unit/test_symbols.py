"""Stack frames as text: kernel symbols, user addresses in the owner's /proc/PID/maps, text bytes."""

from __future__ import annotations

import ctypes
import os

from mapexplorer.symbols import Kallsyms, frame_text, process_maps


def _ksyms(tmp_path) -> Kallsyms:
    p = tmp_path / "kallsyms"
    p.write_text("ffffffff81000000 T _stext\nffffffff81000100 t do_thing\nffffffff81000200 d some_data\n")
    return Kallsyms(str(p))


def test_kernel_frames_get_symbols(tmp_path):
    k = _ksyms(tmp_path)
    assert frame_text(0xFFFFFFFF81000123, k) == "[k] do_thing+0x23"
    assert frame_text(0xFFFF800000000000, k) == "[k] 0xffff800000000000"


def test_user_frames_resolve_in_the_owner_maps(tmp_path):
    addr = ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value
    mine = process_maps(os.getpid())
    assert mine is not None
    text = frame_text(addr, _ksyms(tmp_path), mine)
    assert text.startswith(f"[u] 0x{addr:x} libc") and "+0x" in text
    assert frame_text(0x10, _ksyms(tmp_path), mine) == "[u] 0x10 (not mapped)"


def test_text_bytes_are_named_and_gone_processes_give_none(tmp_path):
    fake = int.from_bytes(b"759/fd", "little")
    assert frame_text(fake, _ksyms(tmp_path)) == f"[u] 0x{fake:x} '759/fd': text bytes, not code"
    assert process_maps(2**22 + 12345, proc=str(tmp_path)) is None
