"""The demo's environment: a cgroup2 directory, a veth pair whose peer lives in the traffic child's
private network namespace, the traffic child itself, and the TCP server its connections reach.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mapexplorer.demo_bpf.catalog import cgroup2_root
from mapexplorer.demo_bpf.state import SessionState


class EnvironmentMixin(SessionState):
    """The cgroup, the veth pair and netns child, the TCP server."""

    @staticmethod
    def _remove_stale_cgroups(root: str) -> None:
        """rmdir empty demo cgroups left by a demo process that was killed (SIGKILL skips stop())."""
        for entry in os.listdir(root):
            if not entry.startswith("mapexplorer_demo_"):
                continue
            pid = entry.removeprefix("mapexplorer_demo_").partition("x")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                with contextlib.suppress(OSError):  # not empty or already gone: leave it
                    os.rmdir(os.path.join(root, entry))

    def _mount_private_cgroup2(self) -> str:
        """Mount a cgroup2 hierarchy on a temp dir (hosts that mount only cgroup v1); unmounted on stop."""
        path = tempfile.mkdtemp(prefix="mapexplorer_cg2_")
        self._stack.callback(os.rmdir, path)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"none", path.encode(), b"cgroup2", 0, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount cgroup2: {os.strerror(err)}")
        self._stack.callback(lambda: libc.umount2(path.encode(), 2))  # MNT_DETACH
        return path

    def _setup_cgroup(self) -> None:
        root = cgroup2_root() or self._mount_private_cgroup2()
        self._remove_stale_cgroups(root)
        path = os.path.join(root, f"mapexplorer_demo_{self._tag}")
        os.mkdir(path)
        self._cg_path = path
        self._stack.callback(self._remove_cgroup, path)
        self._cg_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        self._stack.callback(os.close, self._cg_fd)

    @staticmethod
    def _remove_cgroup(path: str) -> None:
        for _ in range(50):
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)  # the last process is still exiting
        os.rmdir(path)

    def _ip(self, *args: str) -> None:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
        if proc.returncode:
            raise OSError(f"ip {' '.join(args)}: {proc.stderr.strip()}")

    def _del_link(self) -> None:
        subprocess.run(["ip", "link", "del", self._host_if], capture_output=True, check=False)

    def _pick_subnet(self) -> None:
        """A 10.77.N.0/24 no interface of this host uses (other demo sessions may run)."""
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                             check=False).stdout
        start = (os.getpid() * 10 + int(self._tag[-1])) % 250
        for i in range(250):
            n = (start + i) % 250 + 1
            if f" 10.77.{n}." not in out:
                self._host_ip, self._peer_ip = f"10.77.{n}.1", f"10.77.{n}.2"
                return
        raise OSError("no free 10.77.N.0/24 subnet for the veth pair")

    def _setup_net(self) -> None:
        self._pick_subnet()
        self._ip("link", "add", self._host_if, "type", "veth", "peer", "name", self._peer_if)
        self._stack.callback(self._del_link)
        self._child_log = self._stack.enter_context(tempfile.TemporaryFile(mode="w+"))  # noqa: SIM115
        env = dict(os.environ)
        pkg_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH", "")) if p)
        child = subprocess.Popen(
            [sys.executable, "-m", "mapexplorer.demo_bpf.traffic"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._child_log, text=True, env=env,
        )
        self._child = child
        self._stack.callback(self._stop_child)
        self._expect(child, "ready")
        if self._cg_path:
            with open(os.path.join(self._cg_path, "cgroup.procs"), "w") as f:
                f.write(str(child.pid))
        self._ip("link", "set", self._peer_if, "netns", str(child.pid))
        self._ip("addr", "add", f"{self._host_ip}/24", "dev", self._host_if)
        self._ip("link", "set", self._host_if, "up")
        self._host_ifindex = socket.if_nametoindex(self._host_if)
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self._host_ip, 0))
        server.listen(16)
        self._tcp_port = server.getsockname()[1]
        self._stack.callback(server.close)
        thread = threading.Thread(target=self._tcp_server, args=(server,), name="demo-tcp", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _expect(self, child: subprocess.Popen[str], word: str, timeout: float = 15.0) -> None:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], timeout)
        line = child.stdout.readline().strip() if ready else ""
        if line != word:
            self._child_log.seek(0)
            errors = self._child_log.read().strip().splitlines()
            why = errors[-1] if errors else f"got {line!r}"
            raise OSError(f"traffic child did not say {word!r}: {why}")

    def _start_child_traffic(self) -> None:
        child = self._child
        if child is None or child.stdin is None:
            raise OSError("no traffic child")
        cfg = {"peer": self._peer_if, "peer_ip": self._peer_ip, "host_ip": self._host_ip,
               "tcp_port": self._tcp_port, "congestion": self._cc_name if "demo_tcp_cc" in self._fds else ""}
        child.stdin.write(json.dumps(cfg) + "\n")
        child.stdin.flush()
        self._expect(child, "up")

    def _stop_child(self) -> None:
        child = self._child
        if child is None:
            return
        if child.stdin:
            with contextlib.suppress(OSError):
                child.stdin.close()
        try:
            child.wait(timeout=3)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
        self._child = None

    def _tcp_server(self, server: socket.socket) -> None:
        server.settimeout(0.2)
        conns: list[socket.socket] = []
        try:
            while not self._stop_event.is_set():
                try:
                    conn, _ = server.accept()
                    conn.setblocking(False)
                    conns.append(conn)
                except (TimeoutError, BlockingIOError):
                    pass  # no new connection this round
                except OSError as exc:
                    self.traffic_errors += 1
                    self.last_traffic_error = f"accept: {exc.strerror}"
                if conns:
                    readable, _, _ = select.select(conns, [], [], 0.05)
                    for c in readable:
                        try:
                            data = c.recv(65536)
                        except OSError:
                            data = b""
                        if not data:
                            conns.remove(c)
                            c.close()
        finally:
            for c in conns:
                c.close()
