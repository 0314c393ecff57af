"""The exporter's HTTP side: ``/metrics`` (Prometheus text or OpenMetrics, chosen by the scraper's Accept
header as ``prometheus_client`` chooses it, rendered by its encoders, cached per snapshot) and ``/``, a
small page saying what is exported.

Served by a threading WSGI server from the standard library; a scrape waits at most ``scrape_timeout``
for the first snapshot and never for the kernel after that.
"""

from __future__ import annotations

import gzip
import html
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from mapexplorer.export.collector import Poller

StartResponse = Callable[..., Any]
EOF = b"# EOF\n"


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


class MetricsRenderer:
    """The /metrics body: the snapshot's families rendered once per snapshot and format (a scrape of 100,000
    series costs a dictionary lookup, not a re-render), followed by the age, rendered per scrape.

    gzip bodies are two gzip members (cached, then fresh): a valid gzip stream per RFC 1952.
    """

    def __init__(self, snapshot_registry: CollectorRegistry, age_registry: CollectorRegistry, poller: Poller):
        self.snapshot_registry = snapshot_registry
        self.age_registry = age_registry
        self.poller = poller
        self._cache: dict[tuple[str, bool], tuple[object, bytes]] = {}
        self._encoders: dict[tuple[str, bool], Callable] = {}
        self._lock = threading.Lock()
        poller.after_poll.append(self.prerender)

    def _body(self, snap: object, content_type: str, gz: bool, encoder: Callable, *, wait: bool) -> bytes:
        key = (content_type, gz)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is snap:
            return cached[1]
        if cached is not None and not wait:
            if not self._lock.acquire(blocking=False):
                return cached[1]  # being rendered right now: serve the previous snapshot, never wait for it
        else:
            self._lock.acquire()
        try:
            cached = self._cache.get(key)
            if cached is not None and cached[0] is snap:
                return cached[1]
            body = encoder(self.snapshot_registry)
            if content_type.startswith("application/openmetrics-text"):
                body = body.removesuffix(EOF)
            if gz:
                body = gzip.compress(body, 1)
            self._cache[key] = (snap, body)
            self._encoders[key] = encoder
            return body
        finally:
            self._lock.release()

    def prerender(self, snap: object) -> None:
        """Render a new snapshot in every format asked for so far (called by the poller thread), so that no
        scrape pays for rendering."""
        for (content_type, gz), encoder in list(self._encoders.items()):
            self._body(snap, content_type, gz, encoder, wait=True)

    def render(self, accept: str, accept_encoding: str) -> tuple[list[tuple[str, str]], bytes]:
        encoder, content_type = choose_encoder(accept)
        gz = gzip_accepted(accept_encoding)
        body = self._body(self.poller.latest, content_type, gz, encoder, wait=False)
        tail = encoder(self.age_registry)
        headers = [("Content-Type", content_type)]
        if gz:
            headers.append(("Content-Encoding", "gzip"))
            return headers, body + gzip.compress(tail, 1)
        return headers, body + tail


def make_app(renderer: MetricsRenderer, specs: list[str], scrape_timeout: float) -> Callable:
    poller = renderer.poller

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b"use GET\n"]
        if path == "/metrics":
            poller.wait_ready(scrape_timeout)
            headers, body = renderer.render(
                environ.get("HTTP_ACCEPT", ""), environ.get("HTTP_ACCEPT_ENCODING", "")
            )
            start_response("200 OK", headers)
            return [body]
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
