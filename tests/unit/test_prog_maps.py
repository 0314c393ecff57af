"""The read/write analysis of translated instructions, on hand-assembled programs (no root needed): calls
named through a small call table, pointers followed through registers, stack spills and branches."""

from __future__ import annotations

from mapexplorer.kernel import kallsyms
from mapexplorer.kernel.prog_maps import analyze, classify_call
from mapexplorer.kernel.progs import insn

BASE = 0x1000
FUNCS = {
    "__htab_map_lookup_elem": 10,
    "htab_map_update_elem": 20,
    "bpf_ringbuf_output": 30,
    "bpf_perf_event_output_tp": 40,
    "queue_stack_map_push_elem": 50,
    "bpf_ktime_get_ns": 60,
}
CALLS = kallsyms.CallTable(BASE, {BASE + off: name for name, off in FUNCS.items()})


def ld_map(dst: int, map_id: int, src: int = 1) -> bytes:
    return insn(0x18, dst=dst, src=src, imm=map_id) + insn(0)


def call(name: str) -> bytes:
    return insn(0x85, imm=FUNCS[name])


def mov(dst: int, src: int) -> bytes:
    return insn(0xBF, dst=dst, src=src)


def mov_imm(dst: int, imm: int) -> bytes:
    return insn(0xB7, dst=dst, imm=imm)


EXIT = insn(0x95)


def modes(prog: bytes, **kw) -> dict[int, str]:
    return {a.map_id: a.mode for a in analyze(prog, CALLS, **kw).maps}


def test_update_call_is_a_write_and_lookup_a_read():
    prog = ld_map(1, 7) + call("htab_map_update_elem") + ld_map(1, 8) + call("__htab_map_lookup_elem")
    assert modes(prog + mov_imm(0, 0) + EXIT) == {7: "w", 8: "r"}


def test_map_argument_in_r2_perf_output_and_ringbuf_output():
    prog = mov(2, 1)  # r2 = ctx, no map
    prog += ld_map(2, 5) + call("bpf_perf_event_output_tp")  # map is the second argument
    prog += ld_map(1, 6) + call("bpf_ringbuf_output")
    prog += ld_map(1, 9) + call("queue_stack_map_push_elem")
    assert modes(prog + EXIT) == {5: "w", 6: "w", 9: "w"}


def test_store_through_a_spilled_and_reloaded_lookup_result_is_a_probable_write():
    prog = ld_map(1, 3) + call("__htab_map_lookup_elem")
    prog += insn(0x7B, dst=10, src=0, off=-8)  # *(u64 *)(r10 - 8) = r0  (spill)
    prog += call("bpf_ktime_get_ns")  # clobbers r0..r5
    prog += insn(0x79, dst=6, src=10, off=-8)  # r6 = *(u64 *)(r10 - 8)  (reload)
    prog += insn(0x15, dst=6, off=1, imm=0)  # if r6 == 0 goto +1
    prog += insn(0x7A, dst=6, off=0, imm=1)  # *(u64 *)(r6 + 0) = 1
    prog += mov_imm(0, 0) + EXIT
    res = analyze(prog, CALLS)
    (a,) = res.maps
    assert (a.map_id, a.read, a.write, a.probable_write, a.mode) == (3, True, False, True, "rw?")


def test_a_pointer_set_on_one_branch_only_still_counts_after_the_join():
    prog = ld_map(1, 4) + call("__htab_map_lookup_elem")
    prog += insn(0x55, dst=0, off=1, imm=0)  # if r0 != 0 goto +1 (keep the value pointer)
    prog += mov(0, 10)  # else: r0 = stack pointer (not a map value)
    prog += insn(0xDB, dst=0, src=1, off=0, imm=0)  # lock *(u64 *)(r0 + 0) += r1
    prog += mov_imm(0, 0) + EXIT
    assert modes(prog) == {4: "rw?"}


def test_stack_stores_and_unrelated_stores_are_not_writes():
    prog = ld_map(1, 2) + call("__htab_map_lookup_elem")
    prog += insn(0x7A, dst=10, off=-16, imm=5)  # *(u64 *)(r10 - 16) = 5
    prog += mov(3, 1)
    prog += insn(0x7A, dst=3, off=0, imm=1)  # r3 is clobbered by the call: not a map value
    prog += mov_imm(0, 0) + EXIT
    assert modes(prog) == {2: "r"}


def test_inlined_array_lookup_read_and_store_through_it():
    prog = ld_map(1, 11)
    prog += insn(0x07, dst=1, imm=0x110)  # r1 += offsetof(struct bpf_array, value): inlined lookup
    prog += insn(0x61, dst=0, src=2, off=0)  # r0 = *(u32 *)(r2 + 0)
    prog += insn(0x35, dst=0, off=3, imm=4)  # if r0 >= 4 goto +3
    prog += insn(0x67, dst=0, imm=3)  # r0 <<= 3
    prog += insn(0x0F, dst=0, src=1)  # r0 += r1
    prog += insn(0x05, off=1)  # goto +1
    prog += mov_imm(0, 0)
    prog += insn(0x15, dst=0, off=1, imm=0)  # if r0 == 0 goto +1
    prog += insn(0x7A, dst=0, off=0, imm=1)  # *(u64 *)(r0 + 0) = 1
    prog += mov_imm(0, 0) + EXIT
    assert modes(prog) == {11: "rw?"}


def test_global_data_value_pointer_store_is_a_probable_write():
    prog = ld_map(1, 12, src=2) + insn(0x7A, dst=1, off=4, imm=1) + mov_imm(0, 0) + EXIT
    assert modes(prog) == {12: "rw?"}


def test_subprogram_reached_by_a_pseudo_call_is_analyzed():
    main = insn(0x85, src=1, imm=1) + EXIT  # call pc+1+1 (the subprogram), exit
    sub = ld_map(1, 13) + call("htab_map_update_elem") + mov_imm(0, 0) + EXIT
    assert modes(main + sub) == {13: "w"}


def test_maps_in_info_but_never_referenced_are_unknown():
    prog = ld_map(1, 7) + call("htab_map_update_elem") + EXIT
    assert modes(prog, map_ids=(7, 99)) == {7: "w", 99: "?"}


def test_hidden_call_addresses_say_why_and_claim_nothing():
    zeros = "0000000000000000"
    hidden = kallsyms.parse([f"{zeros} T __bpf_call_base\n", f"{zeros} t htab_map_update_elem\n"])
    assert "kptr_restrict" in hidden.hidden
    prog = ld_map(1, 7) + call("htab_map_update_elem") + EXIT
    res = analyze(prog, hidden)
    assert res.hidden == hidden.hidden
    assert [(a.map_id, a.mode) for a in res.maps] == [(7, "?")]


def test_kallsyms_parse_keeps_map_functions_only():
    table = kallsyms.parse(
        [
            "ffffffff81000000 T __bpf_call_base\n",
            "ffffffff81000100 t htab_map_update_elem\n",
            "ffffffff81000200 T schedule\n",
            "ffffffff81000300 t mod_lookup_elem\t[some_module]\n",
        ]
    )
    assert table.hidden == ""
    assert table.name_of(0x100) == "htab_map_update_elem"
    assert table.name_of(0x200) is None  # not a map function
    assert table.name_of(0x300) is None  # modules never provide helpers


def test_classify_call_names():
    assert classify_call("htab_lru_map_update_elem") == (True, False)
    assert classify_call("bpf_ringbuf_reserve") == (True, True)
    assert classify_call("htab_map_lookup_and_delete_elem") == (True, False)
    assert classify_call("bpf_get_stackid_tp") == (True, False)
    assert classify_call("__htab_map_lookup_elem") == (False, True)
    assert classify_call("bpf_sk_storage_get") == (False, True)
    assert classify_call("queue_map_peek_elem") == (False, False)
    assert classify_call(None) == (False, False)


def test_inner_map_lookup_inlined_through_an_outer_value_is_not_a_write_of_the_outer_map():
    # inner = lookup(outer, &k) (inlined: the outer value holds the inner map pointer), then an inlined
    # lookup in the inner array and an increment there: the outer map is only read
    prog = ld_map(1, 20) + call("__htab_map_lookup_elem")
    prog += insn(0x15, dst=0, off=9, imm=0)  # if r0 == 0 goto exit
    prog += insn(0x07, dst=0, imm=56)  # r0 += 56
    prog += insn(0x79, dst=0, src=0, off=0)  # r0 = *(u64 *)(r0 + 0)  (the inner map)
    prog += mov(1, 0)
    prog += insn(0x07, dst=1, imm=312)  # r1 += offsetof(struct bpf_array, value)
    prog += insn(0x61, dst=0, src=2, off=0)  # r0 = *(u32 *)(r2 + 0)
    prog += insn(0x67, dst=0, imm=3)
    prog += insn(0x0F, dst=0, src=1)  # r0 += r1
    prog += insn(0x15, dst=0, off=1, imm=0)
    prog += insn(0xDB, dst=0, src=1, off=0, imm=0)  # lock *(u64 *)(r0 + 0) += r1  (inner value)
    prog += mov_imm(0, 0) + EXIT
    assert modes(prog) == {20: "r"}


def test_per_cpu_value_pointer_made_by_the_percpu_move_is_a_value_pointer():
    prog = ld_map(1, 21) + call("__htab_map_lookup_elem")
    prog += insn(0x15, dst=0, off=3, imm=0)
    prog += insn(0x79, dst=0, src=0, off=48)  # r0 = *(u64 *)(r0 + 48)  (the per-CPU pointer)
    prog += insn(0xBF, dst=0, src=0, off=-1)  # r0 = this_cpu_ptr(r0)  (BPF_MOV64_PERCPU_REG)
    prog += insn(0x7A, dst=0, off=0, imm=1)  # *(u64 *)(r0 + 0) = 1
    prog += mov_imm(0, 0) + EXIT
    assert modes(prog) == {21: "rw?"}
