"""A real ``recs serve`` process for end-to-end tests: started on a free port, handed over once it prints its
ready line (printed when the port accepts connections), stopped (SIGTERM) on the way out if still running."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from serving.embedded_redis import free_port

RECS = str(Path(sys.executable).with_name("recs"))


@contextmanager
def recs_serve(env: Mapping[str, str], log: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """(base URL, process) of ``recs serve --port <free> *options`` with ``env``, its output in ``log``."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [RECS, "serve", "--port", str(port), *options], env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while f"serving on {base}" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"recs serve did not print its ready line:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
