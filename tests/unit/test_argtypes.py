"""The shared argparse types and the capability check: ids as ASCII decimal 1..2^32-1, finite seconds,
the refresh interval clamped like the + / - keys, counts; which capabilities a mask lacks."""

from __future__ import annotations

import argparse

import pytest

from mapexplorer import argtypes, caps


@pytest.mark.parametrize("text", ["1", "007", "4294967295", "1210"])
def test_ids_in_range(text: str) -> None:
    assert argtypes.map_id(text) == int(text)
    assert argtypes.map_ref(text) == text


@pytest.mark.parametrize("text", ["0", "4294967296", "4294968506", "9" * 5000, "²", "١٢", "-1", "+1",
                                  " 1", "1 ", "0x10", ""])
def test_ids_out_of_range_or_not_ascii_decimal(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        argtypes.map_id(text)


@pytest.mark.parametrize("text", ["demo_hash", "a.b", "x" * 15])
def test_names(text: str) -> None:
    assert argtypes.map_ref(text) == text


@pytest.mark.parametrize("text", ["²", "x" * 16, "a b", "ünï", "a\nb", "", "4294967296"])
def test_bad_refs(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        argtypes.map_ref(text)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1", "1e400", "x", ""])
def test_seconds_reject(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        argtypes.seconds(text)


@pytest.mark.parametrize(("text", "want"), [("0", 0.0), ("1e-9", 0.25), ("0.001", 0.25), ("1", 1.0),
                                            ("2.5", 2.5), ("1000", 60.0)])
def test_refresh_is_clamped_like_the_keys(text: str, want: float) -> None:
    assert argtypes.refresh_seconds(text) == want


@pytest.mark.parametrize("text", ["nan", "-0.5", "inf"])
def test_refresh_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        argtypes.refresh_seconds(text)


def test_counts() -> None:
    assert argtypes.positive_int("3") == 3
    assert argtypes.non_negative_int("0") == 0
    for bad in ("-3", "0", "1.5", "٣", "9" * 40):
        with pytest.raises(argparse.ArgumentTypeError):
            argtypes.positive_int(bad)


def test_missing_caps_by_mask() -> None:
    admin, bpf = 1 << caps.CAP_SYS_ADMIN, 1 << caps.CAP_BPF
    assert caps.missing_caps(admin | bpf) == []
    assert caps.missing_caps(admin) == []  # CAP_SYS_ADMIN alone passes bpf_capable() too
    assert caps.missing_caps(bpf) == ["CAP_SYS_ADMIN"]  # but cannot open maps by id
    assert caps.missing_caps(0) == ["CAP_BPF", "CAP_SYS_ADMIN"]


def test_effective_caps_parses_status(tmp_path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n")
    assert caps.effective_caps(str(status)) == 0x1FFFFFFFFFF
    assert caps.effective_caps(str(tmp_path / "missing")) == 0
