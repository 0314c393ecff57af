"""The demo's traffic driver: a child process that lives in its own network namespace and the demo
cgroup, and keeps the demo maps changing (syscalls, file opens and reads, execs, UDP and TCP over the
veth pair, TCP with the demo congestion control).

Protocol with the parent (:mod:`mapexplorer.demo_bpf.session`): the child unshares its network
namespace and prints ``ready``; the parent moves the veth peer into it, puts the child into the demo
cgroup and writes one JSON line of configuration; the child prints ``up`` once the link is configured.
The child exits when its stdin reaches EOF, so it never outlives the parent, and its namespace (with
the veth pair) disappears with it.

Run as ``python -m mapexplorer.demo_bpf.traffic``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import socket
import subprocess
import sys
import threading

CLONE_NEWNET = 0x40000000
TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)
# Destinations routed through the veth: the parent's XDP program counts them against LPM routes,
# reflects the non-local ones through the devmap, hands port 10002 on the host to the AF_XDP socket
# and steers other host UDP through the cpumap.
UDP_TARGETS = (
    ("192.0.2.{n}", 53), ("198.51.100.{n}", 123), ("203.0.113.{n}", 443), ("10.{a}.{b}.1", 10002),
    ("172.16.{n}.9", 5353), ("8.8.8.8", 53), ("10.{a}.{b}.1", 9999),
)
FILES = ("/etc/hostname", "/etc/passwd", "/proc/self/status", "/proc/self/maps", "/proc/cpuinfo",
         "/proc/meminfo", "/etc/os-release")
READ_SIZES = (1, 7, 64, 200, 512, 1500, 4096, 9000, 65536)


def _unshare_net() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Driver:
    """The traffic loop; ``cfg`` holds the peer interface, addresses, ports and congestion control."""

    def __init__(self, cfg: dict[str, object]) -> None:
        self.cfg = cfg
        self.done = threading.Event()
        self.conns: list[socket.socket] = []
        self.tick = 0

    def configure(self) -> None:
        dev = str(self.cfg["peer"])
        _ip("link", "set", "lo", "up")
        _ip("addr", "add", f"{self.cfg['peer_ip']}/24", "dev", dev)
        _ip("link", "set", dev, "up")
        _ip("route", "add", "default", "via", str(self.cfg["host_ip"]))

    def _tcp_connect(self) -> socket.socket | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cc = self.cfg.get("congestion")
        if cc:
            with contextlib.suppress(OSError):  # demo cc not registered: the default one is used
                s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, str(cc).encode())
        s.settimeout(2.0)
        try:
            s.connect((str(self.cfg["host_ip"]), int(self.cfg["tcp_port"])))  # type: ignore[arg-type]
        except OSError:
            s.close()
            return None
        return s

    def _tcp(self) -> None:
        while len(self.conns) < 4:
            s = self._tcp_connect()
            if s is None:
                return
            self.conns.append(s)
        if self.tick % 30 == 0 and self.conns:  # churn: sockhash/sockmap entries come and go
            self.conns.pop(0).close()
        for i, s in enumerate(list(self.conns)):
            try:
                s.sendall(os.urandom(64 + 512 * ((self.tick + i) % 8)))
            except OSError:
                self.conns.remove(s)
                s.close()

    def _udp(self, sock: socket.socket) -> None:
        a, b = (int(x) for x in str(self.cfg["host_ip"]).split(".")[1:3])
        for i, (tmpl, port) in enumerate(UDP_TARGETS):
            if (self.tick + i) % (i + 1):
                continue  # different rates per destination
            dst = tmpl.format(n=1 + (self.tick % 200), a=a, b=b)
            with contextlib.suppress(OSError):
                sock.sendto(b"demo" * (1 + i * 20), (dst, port))

    def _files(self) -> None:
        for i, path in enumerate(FILES):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                while os.read(fd, READ_SIZES[(self.tick + i) % len(READ_SIZES)]):
                    pass
            finally:
                os.close(fd)

    def run(self) -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            while not self.done.is_set():
                self.tick += 1
                self._udp(udp)
                self._tcp()
                self._files()
                for _ in range(50 + 10 * (self.tick % 7)):
                    os.getppid()
                if self.tick % 10 == 0:
                    with contextlib.suppress(OSError):
                        subprocess.run(["true"], check=False)
                self.done.wait(0.1)
        finally:
            udp.close()
            for s in self.conns:
                s.close()


def _watch_stdin(done: threading.Event) -> None:
    sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
    done.set()


def main() -> int:
    _unshare_net()
    print("ready", flush=True)
    line = sys.stdin.readline()
    if not line:
        return 0
    driver = Driver(json.loads(line))
    driver.configure()
    print("up", flush=True)
    threading.Thread(target=_watch_stdin, args=(driver.done,), daemon=True).start()
    driver.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
