"""The exporter's HTTP side: ``/metrics`` (Prometheus text or OpenMetrics, chosen by the scraper's Accept
header, rendered by ``prometheus_client``) and ``/``, a small page saying what is exported.

Served by a threading WSGI server from the standard library; a scrape waits at most ``scrape_timeout``
for the first snapshot and never for the kernel after that.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from mapexplorer.export.collector import Poller

StartResponse = Callable[..., Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (one line per scrape would flood the journal)."""


def index_page(poller: Poller, specs: Iterable[str]) -> bytes:
    snap = poller.latest
    maps = len(snap.maps) if snap else 0
    items = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in specs) or "<li>none</li>"
    return (
        "<!doctype html><html><head><title>mapexplorer export</title></head><body>"
        "<h1>mapexplorer export</h1>"
        '<p><a href="/metrics">/metrics</a>: Prometheus text format, or OpenMetrics when asked for.</p>'
        f"<p>Every BPF map ({maps} now): bpf_map_info, bpf_map_entries, bpf_map_max_entries, "
        "bpf_map_fill_ratio, bpf_map_memlock_bytes, bpf_ringbuf_backlog_ratio; every program: "
        "bpf_prog_info (and run stats with --prog-stats).</p>"
        f"<p>Value series (--values):</p><ul>{items}</ul></body></html>"
    ).encode()


def make_app(
    registry: CollectorRegistry, poller: Poller, specs: list[str], scrape_timeout: float
) -> Callable:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            poller.wait_ready(scrape_timeout)
            return metrics(environ, start_response)
        if path in ("/", "/index.html"):
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [index_page(poller, specs)]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics\n"]

    return app


def serve(app: Callable, host: str, port: int) -> WSGIServer:
    """A started-on-demand server bound to host:port (call ``serve_forever`` in a thread).

    Raises:
        OSError: the address is in use or cannot be bound.
    """
    return make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
