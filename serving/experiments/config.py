"""What an experiment is, as stored under ``recs:experiment``, and which variant a customer sees.

Assignment is deterministic: a customer id is hashed (BLAKE2b, 64 bits) with the experiment's name, and the
customer is in the challenger's group when the hash, as a fraction of 2**64, is below ``share``. The same
customer therefore sees the same variant on every request, in every serving process, for the whole
experiment, and a new experiment (another name) draws new groups. Anonymous visitors are assigned by the
session id the storefront sends as their ``customer_id``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recommender.vocabulary import CUSTOMER_SURFACES

Variant = Literal["champion", "challenger"]
VARIANTS: tuple[str, ...] = get_args(Variant)
CHAMPION_VARIANT, CHALLENGER_VARIANT = VARIANTS
EXPERIMENT_SURFACES: tuple[str, ...] = (*CUSTOMER_SURFACES, "cart")  # answers that name their customer
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SPAN = float(2**64)


class BadExperimentError(ValueError):
    """An experiment definition that cannot run (a bad name, share or surface)."""


class Experiment(BaseModel):
    """A live experiment: the challenger's published version next to the active (champion) one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="letters, digits, '_', '.', '-' (1-64)")
    model_name: str
    challenger_model_version: str  # the registered version
    challenger_version: str  # its published version (recs:v:<version>:*), never the active one
    champion_model_version: str  # the champion's registered version when the experiment started
    share: float = Field(gt=0.0, lt=1.0, description="the challenger's share of customers")
    surfaces: tuple[str, ...] = Field(min_length=1)
    started_at: int  # Unix seconds

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(f"experiment names are 1-64 letters, digits, '_', '.' or '-', got {value!r}")
        return value

    @field_validator("surfaces")
    @classmethod
    def _surfaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(EXPERIMENT_SURFACES))
        if unknown:
            raise ValueError(f"experiments run on {', '.join(EXPERIMENT_SURFACES)}; not on {', '.join(unknown)}")
        return tuple(dict.fromkeys(value))

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Experiment:
        """Parse a stored experiment; ``BadExperimentError`` when it is not one."""
        try:
            return cls.model_validate_json(raw)
        except ValueError as exc:
            raise BadExperimentError(f"recs:experiment does not hold an experiment: {exc}") from exc


def challenger_fraction(name: str, customer_id: str) -> float:
    """The customer's draw in [0, 1) for experiment ``name``."""
    digest = hashlib.blake2b(f"{name}\x1f{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / SPAN


def variant_of(experiment: Experiment, customer_id: str) -> Variant:
    """The variant ``customer_id`` sees in ``experiment`` (the same on every call)."""
    return "challenger" if challenger_fraction(experiment.name, customer_id) < experiment.share else "champion"
