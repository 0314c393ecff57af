"""argparse ``type=`` functions shared by every subcommand: they turn bad text into a usage error (exit 2,
one line) before any command runs.

* :func:`map_ref`: a MAP argument, an id (ASCII decimal, 1..2^32-1) or a map name (up to 15 of
  ``A-Z a-z 0-9 _ .``, what the kernel accepts as a BPF object name).
* :func:`map_id`: an id only.
* :func:`seconds`: a finite number of seconds, 0 or more (``nan``, ``inf`` and negatives are refused).
* :func:`refresh_seconds`: a refresh interval, 0 (manual) or clamped to 0.25..60 s like the ``+``/``-`` keys.
* :func:`positive_int` / :func:`non_negative_int`: ASCII decimal counts.

No textual, no kernel: the CLI parser and tests import this alone.
"""

from __future__ import annotations

import argparse
import math
import re

MAX_ID = 2**32 - 1
REFRESH_MIN_S, REFRESH_MAX_S = 0.25, 60.0
INT_DIGITS_MAX = 18  # counts: anything longer is a typo (and int() refuses past 4300 digits)
OBJ_NAME_MAX = 15  # BPF_OBJ_NAME_LEN - 1
_DECIMAL = re.compile(r"[0-9]+\Z")  # re's [0-9] is ASCII only; str.isdigit() also takes '²' and '٣'
_NAME = re.compile(r"[A-Za-z0-9_.]+\Z")


def _shown(text: str) -> str:
    """The user's text for an error message: quoted, escapes visible, never longer than a line."""
    r = repr(text)
    return r if len(r) <= 40 else r[:37] + "…"


def is_decimal(text: str) -> bool:
    """Whether ``text`` is made only of ASCII digits 0-9."""
    return bool(_DECIMAL.match(text))


def map_id(text: str) -> int:
    """A map (or program) id: ASCII decimal in 1..2^32-1."""
    if not is_decimal(text):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not an id (ASCII digits, 1..{MAX_ID})")
    digits = text.lstrip("0")
    value = int(digits) if 0 < len(digits) <= len(str(MAX_ID)) else 0 if not digits else MAX_ID + 1
    if not 1 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"id {_shown(text)} is out of range: ids are 1..{MAX_ID}")
    return value


def map_ref(text: str) -> str:
    """A MAP argument as text: an id (validated as :func:`map_id`) or a BPF object name.

    Returned unchanged (ids too), for ``resolve_map``.
    """
    if is_decimal(text):
        map_id(text)
        return text
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is neither a map id (ASCII digits, 1..{MAX_ID}) nor a map name "
            "(A-Z a-z 0-9 _ .)"
        )
    if len(text) > OBJ_NAME_MAX:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not a map name: the kernel keeps at most {OBJ_NAME_MAX} characters"
        )
    return text


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a finite number of {what}")
    return value


def seconds(text: str) -> float:
    """A duration in seconds: finite and 0 or more."""
    value = _finite(text, "seconds")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: seconds must be 0 or more")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds: finite and more than 0."""
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: seconds must be more than 0")
    return value


def clamp_refresh(value: float) -> float:
    """0 stays 0 (manual refresh); anything else is brought into 0.25..60 s."""
    if value == 0:
        return 0.0
    return min(REFRESH_MAX_S, max(REFRESH_MIN_S, value))


def refresh_seconds(text: str) -> float:
    """A refresh interval: 0 (manual), else clamped to 0.25..60 s (a 1e-9 s interval would peg a core)."""
    return clamp_refresh(seconds(text))


def budget_percent(text: str) -> float:
    """A CPU budget in percent of one core: 0 (none) to 100, returned as a share (5 -> 0.05)."""
    value = _finite(text, "percent")
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: the budget is a percentage of one core, 0..100")
    return value / 100


def _int(text: str, what: str) -> int:
    if not is_decimal(text):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a {what} (ASCII digits)")
    if len(text.lstrip("0")) > INT_DIGITS_MAX:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is too large")
    return int(text)


def positive_int(text: str) -> int:
    """A count of 1 or more, ASCII decimal."""
    value = _int(text, "positive whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: must be 1 or more")
    return value


def non_negative_int(text: str) -> int:
    """A count or index of 0 or more, ASCII decimal."""
    return _int(text, "whole number (0 or more)")
