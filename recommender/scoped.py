"""A function a running fit may swap for a scope (``training.engine`` runs the heavy steps on Spark this way):
a context variable with a default, set within a block and the threads started with a copy of its context,
never for the process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

T = TypeVar("T")


class Scoped(Generic[T]):
    """``scoped.get()``: the value in effect; ``with scoped.using(value):`` sets it for the block."""

    def __init__(self, name: str, default: T) -> None:
        self._var: ContextVar[T] = ContextVar(name, default=default)

    def get(self) -> T:
        return self._var.get()

    @contextmanager
    def using(self, value: T) -> Iterator[None]:
        token = self._var.set(value)
        try:
            yield
        finally:
            self._var.reset(token)
