"""Merchandising rules: ``POST /v1/rules`` (add or replace one), ``GET /v1/rules``, ``DELETE /v1/rules/{id}``.

Changes need a write key when ``RECS_EVENT_API_KEYS`` is set (``serving.auth.rules_check``). A rule is the
JSON of ``recommender.request_time.rules.Rule`` (unknown fields, a pin without a position, a boost factor
below 1 ... are 422s). Every change bumps the rules' version; serving processes follow it within
``RECS_VERSION_CHECK_SECONDS`` (this one at once), see ``serving.rules_store``.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from recommender.request_time.rules import Rule
from serving.routes.common import REDIS_FAILURES, StateDep
from serving.rules_store import UnknownRuleError, delete_rule_async, list_rules_async, put_rule_async

router = APIRouter(prefix="/v1", tags=["rules"])
write_router = APIRouter(prefix="/v1", tags=["rules"])
UNAVAILABLE = {503: {"description": "Redis is unreachable: nothing changed"}}


class RuleList(BaseModel):
    version: int = Field(description="the rules' version: every change bumps it")
    rules: list[Rule] = Field(description="every stored rule, by id (expired ones too, until deleted)")


class RuleDeleted(BaseModel):
    rule_id: str
    version: int = Field(description="the rules' version after the deletion")


def _unavailable(exc: BaseException) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Redis is unreachable, nothing changed: {exc!r}")


@router.get("/rules", response_model=RuleList, responses=UNAVAILABLE)
async def list_rules(state: StateDep) -> RuleList:
    """Every stored rule, and the rules' version."""
    try:
        rules, version = await list_rules_async(state.reader.client)
    except REDIS_FAILURES as exc:
        raise _unavailable(exc) from exc
    return RuleList(version=version, rules=rules)


@write_router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=Rule,
    response_model_exclude_none=True,
    responses=UNAVAILABLE,
)
async def add_rule(rule: Rule, state: StateDep) -> Rule:
    """Store a rule (one with the ``rule_id`` of a stored rule replaces it); answers it with its ``rule_id``."""
    try:
        stored, _ = await put_rule_async(state.reader.client, rule)
    except REDIS_FAILURES as exc:
        raise _unavailable(exc) from exc
    state.rules.stale()
    return stored


@write_router.delete(
    "/rules/{rule_id}", response_model=RuleDeleted, responses={404: {"description": "no such rule"}, **UNAVAILABLE}
)
async def delete_rule(rule_id: str, state: StateDep) -> RuleDeleted:
    """Delete a rule."""
    try:
        version = await delete_rule_async(state.reader.client, rule_id)
    except UnknownRuleError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except REDIS_FAILURES as exc:
        raise _unavailable(exc) from exc
    state.rules.stale()
    return RuleDeleted(rule_id=rule_id, version=version)
