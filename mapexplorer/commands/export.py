"""``mapexplorer export``: every map's health (and chosen maps' values) for Prometheus.

Serves ``/metrics`` on 127.0.0.1:9435 by default, and/or writes ``DIR/mapexplorer.prom`` atomically for
node_exporter's textfile collector. Kernel reads happen every ``--interval`` in one thread; scrapes
serve the newest snapshot. SIGTERM and Ctrl-C stop it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from prometheus_client import CollectorRegistry, write_to_textfile

from mapexplorer.commands import require_root
from mapexplorer.errors import UserError
from mapexplorer.export.collector import AgeCollector, Poller, SnapshotCollector
from mapexplorer.export.server import MetricsRenderer, make_app, serve
from mapexplorer.export.snapshot import SnapshotTaker
from mapexplorer.export.spec import parse_value_spec
from mapexplorer.kernel import progs

TEXTFILE_NAME = "mapexplorer.prom"


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9435")
    return host.strip("[]") or "127.0.0.1", int(port)


def _write_textfile(registry: CollectorRegistry, directory: str) -> None:
    write_to_textfile(os.path.join(directory, TEXTFILE_NAME), registry)


def run(args: argparse.Namespace) -> int:
    require_root()
    logging.basicConfig(format="mapexplorer export: %(message)s", level=logging.INFO, stream=sys.stderr)
    specs = [parse_value_spec(text) for text in args.values or []]
    if args.textfile and not os.path.isdir(args.textfile):
        raise UserError(f"--textfile {args.textfile}: not a directory")
    listen = None if args.no_listen else parse_listen(args.listen)
    if listen is None and not args.textfile:
        raise UserError("nothing to do: --no-listen needs --textfile DIR")

    stats = progs.StatsSession() if args.prog_stats else None  # counts while open: ~20 ns per run
    taker = SnapshotTaker(specs, max_series=args.max_series, prog_stats=stats is not None)
    poller = Poller(taker, args.interval)
    snapshot_registry = CollectorRegistry(auto_describe=False)
    snapshot_registry.register(SnapshotCollector(poller))
    age_registry = CollectorRegistry(auto_describe=False)
    age_registry.register(AgeCollector(poller))
    textfile_registry = CollectorRegistry(auto_describe=False)  # both, for write_to_textfile
    textfile_registry.register(SnapshotCollector(poller))
    textfile_registry.register(AgeCollector(poller))
    renderer = MetricsRenderer(snapshot_registry, age_registry, poller)

    server = None
    if listen is not None and not args.once:
        try:  # bind first: a port in use is the first and only thing said
            server = serve(make_app(renderer, [s.text for s in specs], args.scrape_timeout), *listen)
        except OSError as exc:
            raise UserError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    http: threading.Thread | None = None
    try:
        poller.poll_once()  # fail here, with one line, if the kernel cannot be read at all
        if args.once:
            if args.textfile:
                _write_textfile(textfile_registry, args.textfile)
            return 0
        if server is not None:
            http = threading.Thread(target=server.serve_forever, name="mapexplorer-export-http", daemon=True)
            http.start()
            logging.info("serving http://%s:%d/metrics", *(listen or ()))
        poller.start()
        while not stop.wait(args.interval if args.textfile else 3600):
            if args.textfile:
                _write_textfile(textfile_registry, args.textfile)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if server is not None:
            if http is not None:
                server.shutdown()
            server.server_close()
        poller.stop()
        if stats is not None:
            stats.close()
