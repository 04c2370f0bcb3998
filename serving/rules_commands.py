"""``recs rules list|add FILE|delete ID``: the merchandising rules in Redis, from the command line.

``add`` takes a JSON file holding one rule or a list of rules (``recommender.request_time.rules.Rule``; a
rule with the ``rule_id`` of a stored one replaces it) and checks every rule before storing any. Serving
processes follow a change within ``RECS_VERSION_CHECK_SECONDS``. Exit codes: 1 Redis did not answer or no
such rule, 2 a file that is not valid rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table

from recommender.request_time.rules import Rule
from serving.feedback.export_command import RedisUrl

EXIT_FAILED = 1  # Redis did not answer, or no rule has the id
EXIT_BAD_RULES = 2  # the file is not valid rules
RULES = TypeAdapter(list[Rule])


def read_rules(path: Path) -> list[Rule]:
    """The rules of a JSON file (one rule or a list); ``ValueError`` with the reasons when invalid."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path} as JSON: {exc}") from exc
    try:
        return RULES.validate_python(data if isinstance(data, list) else [data])
    except ValidationError as exc:
        raise ValueError(f"{path} holds invalid rules:\n{exc}") from exc


def describe(rule: Rule) -> str:
    """The rule's target and numbers in one line, e.g. ``category=Books factor=2``."""
    fields = rule.model_dump(exclude_none=True, exclude={"rule_id", "action", "surface", "note"}, mode="json")
    return " ".join(f"{key}={json.dumps(value) if isinstance(value, dict) else value}" for key, value in fields.items())


def rules_app(redis_url: RedisUrl) -> typer.Typer:
    """The ``recs rules`` group, reaching Redis through ``redis_url``."""
    from serving.cache import RedisUnavailable, connect_sync
    from serving.rules_store import UnknownRuleError, delete_rule, list_rules, put_rule

    app = typer.Typer(no_args_is_help=True, help="Merchandising rules: pin, boost, bury, block, promote.")
    console = Console(soft_wrap=True)

    def failed(exc: Exception) -> typer.Exit:
        console.print(f"[red]error:[/red] Redis did not answer ({exc}). Nothing changed.")
        return typer.Exit(EXIT_FAILED)

    @app.command("list")
    def list_command() -> None:
        """Every stored rule."""
        try:
            with redis_url() as url:
                rules, version = list_rules(connect_sync(url))
        except RedisUnavailable as exc:
            raise failed(exc) from exc
        table = Table(title=f"{len(rules)} rules, version {version}")
        for column in ("rule_id", "action", "surface", "target and numbers"):
            table.add_column(column)
        for rule in rules:
            table.add_row(rule.rule_id, rule.action, rule.surface or "every", describe(rule))
        console.print(table)

    @app.command("add")
    def add_command(
        file: Annotated[Path, typer.Argument(help="A JSON file: one rule, or a list of rules.", exists=True)],
    ) -> None:
        """Store the rules of FILE (all checked first; a rule with a stored rule's id replaces it)."""
        try:
            rules = read_rules(file)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}\nNothing stored.", markup=False)
            raise typer.Exit(EXIT_BAD_RULES) from exc
        try:
            with redis_url() as url:
                client = connect_sync(url)
                for rule in rules:
                    stored, version = put_rule(client, rule)
                    console.print(f"stored rule {stored.rule_id} ({stored.action}); rules version {version}")
        except RedisUnavailable as exc:
            raise failed(exc) from exc

    @app.command("delete")
    def delete_command(rule_id: Annotated[str, typer.Argument(help="The rule's id (see `recs rules list`).")]) -> None:
        """Delete a rule."""
        try:
            with redis_url() as url:
                version = delete_rule(connect_sync(url), rule_id)
        except UnknownRuleError as exc:
            console.print(f"[red]error:[/red] {exc}; `recs rules list` shows the stored ones.", markup=False)
            raise typer.Exit(EXIT_FAILED) from exc
        except RedisUnavailable as exc:
            raise failed(exc) from exc
        console.print(f"deleted rule {rule_id}; rules version {version}")

    return app
