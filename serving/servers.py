"""Running the app under an ASGI server: uvicorn (uvloop, httptools) or granian (Rust, its own event loop
driver), one or several worker processes; ``recs serve --server`` and ``recs demo`` call ``run_server``.

Both print "serving on http://HOST:PORT" once the port accepts connections, so scripts can wait for that
line, and leave through ``SystemExit`` on SIGTERM so that the embedded Redis server around the call is
stopped too. Which is faster for this app, and by how much, is measured by ``make bench-serve``
(``benchmarks.serve_speed --servers``), whose numbers chose the default (``DEFAULT_SERVER``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

APP = "serving.app:create_app"  # the app factory, called in every worker


class Server(StrEnum):
    uvicorn = "uvicorn"
    granian = "granian"


DEFAULT_SERVER = Server.uvicorn


def run_server(
    host: str,
    port: int,
    workers: int,
    on_ready: Callable[[], None],
    *,
    server: Server = DEFAULT_SERVER,
    log_level: str = "warning",
    access_log: bool = False,
) -> None:
    """Serve the app until stopped; ``on_ready`` is called once the port accepts connections (from the
    server's event loop under uvicorn with one worker, from a thread otherwise: it must return at once)."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if server == Server.granian:
        _run_granian(host, port, workers, on_ready, log_level=log_level, access_log=access_log)
    else:
        _run_uvicorn(host, port, workers, on_ready, log_level=log_level, access_log=access_log)


def _run_uvicorn(
    host: str, port: int, workers: int, on_ready: Callable[[], None], *, log_level: str, access_log: bool
) -> None:
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    config = uvicorn.Config(
        APP, factory=True, host=host, port=port, workers=workers, log_level=log_level, access_log=access_log
    )
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = config.bind_socket()
        on_ready()
        Multiprocess(config, sockets=[sock]).run()
        return
    server = _ready_server(config, on_ready)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)  # as uvicorn.run does


def _ready_server(config: uvicorn.Config, on_ready: Callable[[], None]) -> uvicorn.Server:
    """A ``uvicorn.Server`` that calls ``on_ready`` once its sockets listen."""
    import uvicorn

    class ReadyServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                on_ready()

    return ReadyServer(config)


def _run_granian(
    host: str, port: int, workers: int, on_ready: Callable[[], None], *, log_level: str, access_log: bool
) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    threading.Thread(target=_when_listening, args=(host, port, on_ready), daemon=True).start()
    Granian(
        APP,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_level=log_level,  # type: ignore[arg-type]  # the same names as granian's LogLevels
        log_access=access_log,
    ).serve()


def _when_listening(host: str, port: int, on_ready: Callable[[], None], timeout: float = 120.0) -> None:
    """Call ``on_ready`` once ``host:port`` accepts a connection (polled every 20 ms, for at most ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                on_ready()
                return
        except OSError:
            time.sleep(0.02)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def serve_environment(url: str, model_name: str, spool_dir: str) -> None:
    """What every worker's app factory reads: the Redis URL, the model name, the events' spool directory."""
    os.environ["RECS_REDIS_URL"] = url
    os.environ.setdefault("RECS_MODEL_NAME", model_name)
    # events that could not reach Redis before a stop are written here and taken back by the next start
    os.environ.setdefault("RECS_EVENT_SPOOL_DIR", spool_dir)
