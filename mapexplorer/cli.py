"""The ``mapexplorer`` command line: the TUI (no subcommand, or ``tui``) and the scriptable subcommands
``list``, ``show``, ``progs``, ``dump``, ``hist``, ``watch``, ``doctor``, ``demo``, ``record`` and ``diff``.
Also bpftool's map operations: ``lookup``, ``getnext``, ``peek`` and the explicit writes
``update``, ``delete``, ``push``, ``pop``, ``pin``, ``freeze``.

Each subcommand's work lives in ``mapexplorer.commands.<name>.run(args) -> int``; this module only parses
arguments and turns expected failures into one line on stderr and exit code 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import io
import os
import sys
from typing import NoReturn

from mapexplorer import argtypes
from mapexplorer.errors import UserError

STDOUT_CLOSED = "mapexplorer: standard output is closed: nothing can be printed"


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on at most two lines: what is wrong, and where the help is (the full
    usage of a subcommand with many options runs to four lines and buries the error)."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes some of the user's text raw (unrecognized arguments): keep it on one line
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(2, f"{self.prog}: error: {message}\ntry '{self.prog} --help'\n")


def _add_tui_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--map", type=argtypes.map_ref, metavar="ID|NAME", help="open this map directly")
    p.add_argument("--refresh", type=argtypes.refresh_seconds, default=1.0, metavar="SECONDS",
                   help="refresh interval: 0 (manual) or 0.25..60 (1.0)")
    p.add_argument("--budget", type=argtypes.budget_percent, default=0.05, metavar="PERCENT",
                   help="CPU budget of background refreshes, %% of one core (5): the map list refreshes "
                        "less often when a refresh costs more; 0: no budget")
    p.add_argument("--write", action="store_true", help="allow updates/deletes (each confirmed in the UI)")
    p.add_argument("--demo", action="store_true", help="run the demo BPF programs in the background")
    p.add_argument("--replay", metavar="FILE", help="explore a recording (mapexplorer record), no root")
    p.add_argument("--no-hist-guess", action="store_true",
                   help="do not open maps that look like histograms as charts (H still does)")
    p.add_argument("--prog-stats", action="store_true",
                   help="keep BPF run statistics on for the whole session (default: only while the programs "
                   "screen is open)")


ITEMS_HELP = (
    "KEY / VALUE: the JSON that dump --json prints (a number, a string, an object: partial on update, "
    "an enum name, a CIDR for lpm_trie keys) or bytes as 'hex 01 02 ..'"
)


def _add_map_operations(sub: argparse._SubParsersAction) -> None:
    """bpftool's map operations, typed with BTF."""
    def op(name: str, help_: str, items: str, *, aliases: tuple[str, ...] = (), json_: bool = True,
           dry_run: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, aliases=list(aliases), help=help_, description=f"{help_}. {ITEMS_HELP}.")
        p.set_defaults(command=name)
        p.add_argument("map", type=argtypes.map_ref, metavar="MAP",
                       help="map id, unique name, or 'pinned PATH'")
        if items:
            p.add_argument("items", nargs="*", metavar=items)
        if json_:
            p.add_argument("--json", action="store_true", help="print JSON")
        if dry_run:
            p.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
        return p

    op("lookup", "print the value of one key", "KEY")
    op("getnext", "print the key after KEY (the first key without KEY)", "KEY")
    op("peek", "print the head of a queue or stack without removing it", "")
    p = op("update", "write one entry, printing it before and after", "KEY VALUE", dry_run=True)
    cpus = p.add_mutually_exclusive_group()
    cpus.add_argument("--cpu", type=argtypes.non_negative_int, metavar="N",
                      help="per-CPU maps: write only CPU N's value")
    cpus.add_argument("--all-cpus", action="store_true", help="per-CPU maps: write VALUE to every CPU")
    exist = p.add_mutually_exclusive_group()
    exist.add_argument("--noexist", action="store_true", help="only create: fail if the key exists")
    exist.add_argument("--exist", action="store_true", help="only replace: fail if the key is absent")
    op("delete", "delete one entry, printing what was removed", "KEY", dry_run=True)
    op("push", "push VALUE onto a queue or stack (or insert into a bloom filter)", "VALUE",
       aliases=("enqueue",), dry_run=True)
    op("pop", "remove and print the head of a queue or stack", "", aliases=("dequeue",), dry_run=True)
    for name, help_ in (("pin", "pin the map at PATH on bpffs"),
                        ("freeze", "make the map read-only for user space, for good")):
        p = op(name, help_, "PATH" if name == "pin" else "", json_=False)
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation on a terminal")


# Subcommands that live in another subcommand's module.
_MODULE_OF = {"getnext": "lookup", "peek": "lookup", "delete": "update", "push": "update", "pop": "update",
              "freeze": "pin"}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mapexplorer",
        description="Explore the eBPF maps of the running kernel. Without a subcommand, opens the TUI.",
    )
    _add_tui_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("tui", help="open the terminal UI (the default)")
    _add_tui_options(p)

    p = sub.add_parser("list", help="list every BPF map")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--by", choices=("owner", "pin-dir", "name"),
                   help="memory by owner: group the maps, with counts and memlock totals")

    p = sub.add_parser("show", help="show one map's facts")
    p.add_argument("map", type=argtypes.map_ref, metavar="ID", help="map id (or a unique name)")
    p.add_argument("--json", action="store_true", help="print a JSON object")

    p = sub.add_parser("progs", help="list every BPF program and the maps it reads and writes")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = sub.add_parser("dump", help="print every entry of a map")
    p.add_argument("map", type=argtypes.map_ref, metavar="ID", help="map id (or a unique name)")
    p.add_argument("--json", action="store_true", help="print a JSON array like bpftool -j")
    p.add_argument("--raw", action="store_true", help="bytes only, even when the map has BTF")
    p.add_argument("--bpftool", action="store_true",
                   help="bpftool's -j shape: hex key/value plus formatted (scripts written for bpftool)")

    p = sub.add_parser("watch", help="stream events from a ringbuf or perf_event_array map")
    p.add_argument("map", type=argtypes.map_ref, metavar="ID", help="map id (or a unique name)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--count", type=argtypes.positive_int, metavar="N", help="exit after N events")
    p.add_argument("--timeout", type=argtypes.seconds, metavar="S", help="exit after S seconds")
    p.add_argument("--type", metavar="NAME", help="decode events as this BTF struct or union")
    p.add_argument("--type-force", action="store_true",
                   help="decode as --type even when its size is not the records' size")
    p.add_argument("--consume", action="store_true", help="advance the ringbuf consumer position")
    p.add_argument("--takeover", action="store_true", help="replace occupied perf_event_array slots")

    p = sub.add_parser("hist", help="print a histogram map as BCC does, with percentiles")
    p.add_argument("map", type=argtypes.map_ref, metavar="ID", help="map id (or a unique name)")
    p.add_argument("--key", metavar="K", help="only the histogram of this key (JSON or its label)")
    p.add_argument("--sum", action="store_true", help="one histogram: the sum over every key")
    p.add_argument("--linear", action="store_true", help="linear buckets (BCC print_linear_hist)")
    p.add_argument("--label", metavar="TEXT", help="the value column's header (default: the unit or 'value')")
    p.add_argument("--json", action="store_true", help="buckets and percentiles as JSON")

    p = sub.add_parser("doctor", help="health findings for every map (exit 0 none, 3 warnings, 4 errors)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--sample", type=argtypes.seconds, default=1.0, metavar="S",
                   help="seconds between the two reads of per-CPU arrays (0: skip that check)")

    _add_map_operations(sub)

    p = sub.add_parser("export", help="serve map health and values to Prometheus (OpenMetrics)")
    p.add_argument("--listen", default="127.0.0.1:9435", metavar="HOST:PORT", help="(127.0.0.1:9435)")
    p.add_argument("--no-listen", action="store_true", help="serve nothing over HTTP (with --textfile)")
    p.add_argument("--textfile", metavar="DIR", help="also write DIR/mapexplorer.prom atomically")
    p.add_argument("--interval", type=argtypes.refresh_seconds, default=5.0, metavar="S",
                   help="kernel read interval (5; 0.25-60)")
    p.add_argument("--scrape-timeout", type=argtypes.seconds, default=5.0, metavar="S",
                   help="longest a scrape waits for the first snapshot (5)")
    p.add_argument("--values", action="append", metavar="SPEC",
                   help="a map's numeric field: 'MAP[:FIELD] as METRIC [counter|gauge] [by key=LABEL]'")
    p.add_argument("--max-series", type=argtypes.positive_int, default=10000, metavar="N",
                   help="value series per map at most (10000)")
    p.add_argument("--once", action="store_true", help="read once (write the textfile) and exit")
    p.add_argument("--prog-stats", action="store_true",
                   help="turn on BPF_ENABLE_STATS while exporting (costs ~20 ns per program run)")

    p = sub.add_parser("demo", help="load demo BPF programs that populate every map type")
    p.add_argument("types", nargs="*", metavar="TYPE", help="only these map types")
    p.add_argument("--list", action="store_true", help="list the demos and whether this host supports them")
    p.add_argument("--duration", type=argtypes.seconds, metavar="S", help="stop and clean up after S seconds")

    p = sub.add_parser("record", help="record maps (and stream events) into a file for replay and diff")
    p.add_argument("maps", nargs="*", type=argtypes.map_ref, metavar="MAP",
                   help="map ids or names (or --all)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the recording (.jsonl, .jsonl.gz)")
    p.add_argument("--all", action="store_true", help="every map, including maps that appear meanwhile")
    p.add_argument("--interval", type=argtypes.positive_seconds, default=1.0, metavar="S",
                   help="seconds between frames (1.0)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=argtypes.seconds, metavar="S", help="stop after S seconds")
    stop.add_argument("--frames", type=argtypes.positive_int, metavar="N", help="stop after N frames")
    p.add_argument("--events", action="append", type=argtypes.map_ref, metavar="MAP",
                   help="also record this ringbuf / perf_event_array map's events (tap: never consumes)")

    p = sub.add_parser("diff", help="what changed between two states of a map (exit 0 equal, 1 different)")
    p.add_argument("a", metavar="A",
                   help="map id/name, recording (FILE, FILE@SECONDS, FILE@frameN) or dump --json file")
    p.add_argument("b", metavar="B", help="the same kinds as A")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--map", metavar="MAP", help="in recordings of several maps, only this one (id or name)")
    return parser


def run(args: argparse.Namespace) -> int:
    command = args.command or "tui"
    module = importlib.import_module(f"mapexplorer.commands.{_MODULE_OF.get(command, command)}")
    return module.run(args)


def _stdout_usable() -> bool:
    """Whether fd 1 is open (Python sets ``sys.stdout`` to None when it was closed at startup, and print()
    then writes nothing and succeeds)."""
    if sys.stdout is None:
        return False
    try:
        os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):
        return False
    return True


STDOUT_BLOCK = 1 << 16


def block_buffered_stdout() -> None:
    """Make ``sys.stdout`` block-buffered when it is not a terminal, also under ``PYTHONUNBUFFERED`` /
    ``-u`` (which leave it unbuffered: a ``print`` per line would be two write() calls). Commands flush
    where they must (``watch`` at most every 0.2 s into a pipe; everything at exit)."""
    out = sys.stdout
    if not isinstance(out, io.TextIOWrapper) or not isinstance(out.buffer, io.RawIOBase) or out.isatty():
        return
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(out.buffer, STDOUT_BLOCK), encoding=out.encoding,
                                  errors=out.errors)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's last flush cannot fail a second time (and print
    "Exception ignored" on stderr)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _permission_line(exc: PermissionError) -> str:
    from mapexplorer import caps

    missing = caps.missing_caps()
    if missing:
        return f"mapexplorer: {caps.permission_message(missing)}"
    where = f" ({exc.filename})" if exc.filename else ""
    return (f"mapexplorer: {exc.strerror or 'operation not permitted'}{where}, although this process has "
            "CAP_BPF and CAP_SYS_ADMIN (a security module or kernel lockdown may refuse it)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not _stdout_usable():
        print(STDOUT_CLOSED, file=sys.stderr)
        return 1
    block_buffered_stdout()
    try:
        code = run(args)
        sys.stdout.flush()  # a write error must surface here, not in the interpreter's last flush
        return code
    except UserError as exc:
        print(f"mapexplorer: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(_permission_line(exc), file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # the reader went away (| head): not an error
            _silence_stdout()
            return 0
        if exc.errno in (errno.EBADF, errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG) and \
                getattr(exc, "filename", None) is None:
            _silence_stdout()
            print(f"mapexplorer: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"mapexplorer: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
