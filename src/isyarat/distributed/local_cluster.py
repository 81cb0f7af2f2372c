"""A throwaway multi-node Ray cluster on this machine (`ray start --head` plus `ray start --address`
per extra node), for trying the cluster path, tests and benchmarks without a second machine.

Every node runs `ray start --block` in its own process group, in a private temp dir, with its own
random auth token; stop() ends exactly those process groups, never another user's Ray (`ray stop`
would stop every Ray on the machine)."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from isyarat.errors import IsyaratError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """`nodes` Ray nodes of `cpus` CPUs each. `address` and `env` (the token) let a driver connect:
    run it with env=cluster.env and --ray cluster.address."""

    def __init__(self, nodes: int = 2, cpus: int = 1, object_store_bytes: int = 80_000_000,
                 env: dict | None = None) -> None:
        if nodes < 1 or cpus < 1:
            raise IsyaratError(f"a local cluster needs at least 1 node and 1 CPU, got {nodes} and {cpus}")
        self.nodes, self.cpus, self.object_store_bytes = nodes, cpus, object_store_bytes
        self.temp = Path(tempfile.mkdtemp(prefix="isy-ray-"))  # short: Ray's socket paths have a length limit
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**(env or os.environ), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
                    "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.pop("RAY_ADDRESS", None)
        self.procs: list[subprocess.Popen] = []
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def _node(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", *args, f"--num-cpus={self.cpus}", "--block",
               f"--temp-dir={self.temp}", f"--object-store-memory={self.object_store_bytes}",
               "--disable-usage-stats"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
                                start_new_session=True)
        self.procs.append(proc)
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if "Ray runtime started" in line:
                threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining its output
                return
        raise IsyaratError(f"ray start exited with {proc.wait()}: " + " / ".join(lines[-3:]))

    def start(self) -> "LocalCluster":
        """Start the head, then the other nodes (each waits until Ray says it runs)."""
        try:
            self._node("--head", f"--port={self.port}", "--include-dashboard=false")
            for _ in range(self.nodes - 1):
                self._node(f"--address={self.address}")
        except Exception as err:
            self.error = str(err)
        return self

    def start_in_background(self) -> "LocalCluster":
        self._thread = threading.Thread(target=self.start, daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float = 240) -> "LocalCluster":
        """Until every node runs; IsyaratError with Ray's last words when one did not start."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.error = self.error or f"not started after {timeout:.0f} s"
        if self.error:
            raise IsyaratError(f"the local Ray cluster did not start: {self.error}")
        return self

    def stop(self) -> None:
        """SIGTERM each node's `ray start --block` (it stops its node), then SIGKILL what is left of
        its process group."""
        if self._thread is not None:
            self._thread.join(60)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp, ignore_errors=True)

    def alive_groups(self) -> list[int]:
        """The process groups this cluster started that still have a process."""
        alive = []
        for proc in self.procs:
            try:
                os.killpg(proc.pid, 0)
                alive.append(proc.pid)
            except ProcessLookupError:
                pass
        return alive

    def __enter__(self) -> "LocalCluster":
        try:
            return self.start().wait()
        except BaseException:
            self.stop()  # a node that did start must not outlive the failed cluster
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
