"""Errors meant for the user: the CLI prints their message on one line and exits 1."""

from __future__ import annotations


class UserError(Exception):
    """An expected failure with a message that needs no traceback (no such map, unsupported type...)."""


class NoPermission(UserError):
    """The process lacks the capabilities bpf() needs (the message names the missing ones)."""
