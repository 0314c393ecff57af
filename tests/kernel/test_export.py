"""``mapexplorer export`` on real maps, scraped by a real Prometheus server (Debian's ``prometheus``).

The test creates its own maps and a counting program (tests/kernel/export_maps.py), runs the exporter as
a subprocess on a loopback port, and checks what it serves: through Prometheus's query API, with
``promtool check metrics``, as a textfile rewritten under a reader, under 100 concurrent scrapes, and on
SIGTERM.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from helpers import needs_root

sys.path.insert(0, str(Path(__file__).parent))
from export_maps import COUNTED_KEY, ExportMaps, create, run_counter

pytestmark = [pytest.mark.kernel, needs_root]
needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian's prometheus package is not installed (setup.sh installs it)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, accept: str | None = None, timeout: float = 10) -> tuple[str, str]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.headers.get("Content-Type", ""), resp.read().decode()


def wait_for(what: str, fn, timeout: float = 30.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def scrape_if(url: str, needle: str) -> str | None:
    """The exporter's /metrics text when it contains ``needle``, else None."""
    text = get(url + "/metrics")[1]
    return text if needle in text else None


def samples(text: str, name: str) -> dict[str, float]:
    """``{labels-text: value}`` of every sample of metric ``name`` in a text exposition."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            out[head[len(name) :]] = float(value)
    return out


@contextmanager
def exporter(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mapexplorer", "export", "--listen", f"127.0.0.1:{port}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"exporter exited {proc.returncode}: {proc.stderr.read()}")
            try:
                return bool(get(url + "/metrics", timeout=2))
            except OSError:
                return False

        wait_for("the exporter to serve", up)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


@pytest.fixture
def ex_maps() -> Iterator[ExportMaps]:
    with ExitStack() as stack:
        yield create(stack)


VALUES = [
    "--values",
    "ex_calls:value as ex_calls_total counter by key=syscall",
    "--values",
    "ex_flows:bytes as ex_flow_bytes",
    "--values",
    "ex_many as ex_many_value",
]


def test_scrape_has_health_and_values(ex_maps: ExportMaps) -> None:
    with exporter("--interval", "0.5", "--max-series", "20", *VALUES) as (_, url):
        text = wait_for("value series", lambda: scrape_if(url, "ex_flow_bytes{"))
        assert samples(text, "bpf_map_entries")['{id="",map="ex_fill",type="hash"}'] == 37
        assert samples(text, "bpf_map_max_entries")['{id="",map="ex_fill",type="hash"}'] == 100
        assert samples(text, "bpf_map_fill_ratio")['{id="",map="ex_fill",type="hash"}'] == 0.37
        assert samples(text, "bpf_map_memlock_bytes")['{id="",map="ex_fill",type="hash"}'] > 0
        assert samples(text, "bpf_ringbuf_backlog_ratio")['{id="",map="ex_ring",type="ringbuf"}'] == 0
        info = samples(text, "bpf_map_info")
        assert any(f'map_id="{ex_maps.fill.info.id}"' in k and 'map="ex_fill"' in k for k in info)
        calls = samples(text, "ex_calls_total")
        assert calls == {
            '{id="",map="ex_calls",syscall="3"}': 41.0,
            f'{{id="",map="ex_calls",syscall="{COUNTED_KEY}"}}': 0.0,
        }
        flows = samples(text, "ex_flow_bytes")
        assert flows == {
            '{comm="curl",id="",map="ex_flows",pid="100"}': 1500.0,
            '{comm="sshd",id="",map="ex_flows",pid="200"}': 4200.0,
        }
        assert len(samples(text, "ex_many_value")) == 20  # the cardinality cap
        assert samples(text, "bpf_export_dropped_series_total")[""] >= 30
        content_type, om = get(url + "/metrics", accept="application/openmetrics-text; version=1.0.0")
        assert content_type.startswith("application/openmetrics-text")
        assert om.rstrip().endswith("# EOF")
        _, index = get(url + "/")
        assert "ex_calls:value as ex_calls_total" in index
        req = urllib.request.Request(url + "/metrics", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            unzipped = gzip.decompress(resp.read()).decode()  # the cached part and the age, two members
        assert 'ex_flow_bytes{comm="curl"' in unzipped and "bpf_export_snapshot_age_seconds" in unzipped


@needs_prometheus
def test_promtool_finds_nothing(ex_maps: ExportMaps) -> None:
    with exporter("--interval", "1", *VALUES) as (_, url):
        text = get(url + "/metrics")[1]
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == ""


@needs_prometheus
def test_real_prometheus_scrapes_entries_and_counter_rate(ex_maps: ExportMaps, tmp_path: Path) -> None:
    with exporter("--interval", "0.5", *VALUES) as (_, url):
        prom_port = free_port()
        cfg = tmp_path / "prometheus.yml"
        target = url.removeprefix("http://")
        cfg.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: mapexplorer\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        prom = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        api = f"http://127.0.0.1:{prom_port}/api/v1/query?query="

        def query(q: str) -> list[dict]:
            try:
                body = json.loads(get(api + urllib.parse.quote(q), timeout=5)[1])
            except OSError:
                return []
            return body["data"]["result"] if body.get("status") == "success" else []

        try:
            fill = wait_for(
                "bpf_map_entries in Prometheus", lambda: query('bpf_map_entries{map="ex_fill"}'), 60
            )
            assert float(fill[0]["value"][1]) == 37
            # The program runs 200 times every 0.1 s (2,000 runs/s) for 6 s.
            runs, started = 0, time.monotonic()
            while time.monotonic() - started < 6:
                run_counter(ex_maps.prog_fd, 200)
                runs += 200
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            series = f'ex_calls_total{{map="ex_calls",syscall="{COUNTED_KEY}"}}'
            wait_for(
                f"{series} to reach {runs}", lambda: (r := query(series)) and float(r[0]["value"][1]) == runs
            )
            rate = float(query(f"rate({series}[4s] offset 2s)")[0]["value"][1])
            expected = runs / elapsed
            assert 0.6 * expected < rate < 1.4 * expected, (rate, expected)
            # Every query of the documented dashboard runs on this server and finds series.
            for expr in dashboard_queries():
                assert query(expr), expr
        finally:
            prom.terminate()
            prom.wait(timeout=30)


DOCS = Path(__file__).resolve().parents[2] / "docs"


def dashboard_queries() -> list[str]:
    dash = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    return [e.replace("$instance", ".*").replace("$values_metric", "ex_calls_total") for e in exprs]


@needs_prometheus
def test_documented_alert_rules_are_valid() -> None:
    check = subprocess.run(
        ["promtool", "check", "rules", str(DOCS / "prometheus-alerts.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0 and "SUCCESS: 3 rules found" in check.stdout, check.stdout + check.stderr


def test_textfile_is_never_half_written(ex_maps: ExportMaps, tmp_path: Path) -> None:
    prom_file = tmp_path / "mapexplorer.prom"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mapexplorer",
            "export",
            "--no-listen",
            "--textfile",
            str(tmp_path),
            "--interval",
            "0.25",
            *VALUES,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for("the textfile", prom_file.exists)
        reads, stop = [], time.monotonic() + 4
        while time.monotonic() < stop:
            text = prom_file.read_text()
            reads.append(text)
            assert text.endswith("\n") and "bpf_export_snapshots_total" in text, text[-200:]
        versions = {samples(t, "bpf_export_snapshots_total")[""] for t in reads}
        assert len(versions) >= 4  # the file was rewritten while we read it
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
    assert [p.name for p in tmp_path.iterdir()] == ["mapexplorer.prom"]  # no temporary left behind


def test_concurrent_scrapes_share_one_kernel_read(ex_maps: ExportMaps) -> None:
    with exporter("--interval", "3600") as (_, url):
        before = samples(get(url + "/metrics")[1], "bpf_export_snapshots_total")[""]
        with ThreadPoolExecutor(max_workers=100) as pool:
            texts = list(pool.map(lambda _: get(url + "/metrics", timeout=30)[1], range(100)))
        assert all('map="ex_fill"' in t for t in texts)
        assert {samples(t, "bpf_export_snapshots_total")[""] for t in texts} == {before}


def test_sigterm_exits_cleanly_and_vanished_map_drops_out() -> None:
    with ExitStack() as stack:
        m = create(stack, prefix="ey")
        with exporter("--interval", "0.25") as (proc, url):
            assert 'map="ey_fill"' in get(url + "/metrics")[1]
            m.fill.close()  # the only fd: the kernel frees the map
            wait_for("ey_fill to drop out", lambda: 'map="ey_fill"' not in get(url + "/metrics")[1])
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
            assert "Traceback" not in proc.stderr.read()


def test_bad_spec_is_one_line_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mapexplorer", "export", "--values", "ex_calls as calls counter"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "_total" in proc.stderr


def test_listen_in_use_is_one_line_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mapexplorer", "export", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "cannot listen" in proc.stderr


def test_prog_stats_count_runs_while_exporting(ex_maps: ExportMaps) -> None:
    with exporter("--interval", "0.25", "--prog-stats") as (_, url):
        plain = get(url + "/metrics")[1]
        assert 'prog="ex_count"' in plain
        run_counter(ex_maps.prog_fd, 500)

        def runs() -> float | None:
            found = [
                v
                for k, v in samples(get(url + "/metrics")[1], "bpf_prog_runs_total").items()
                if 'prog="ex_count"' in k
            ]
            return found[0] if found and found[0] >= 500 else None

        assert wait_for("500 runs counted", runs) >= 500
        seconds = samples(get(url + "/metrics")[1], "bpf_prog_run_time_seconds_total")
        assert any('prog="ex_count"' in k and v > 0 for k, v in seconds.items())


def test_no_run_series_without_prog_stats(ex_maps: ExportMaps) -> None:
    with exporter("--interval", "0.25") as (_, url):
        text = get(url + "/metrics")[1]
    assert 'bpf_prog_info{prog="ex_count"' in text
    assert "bpf_prog_runs_total" not in text
