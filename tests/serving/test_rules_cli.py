"""``recs rules list|add FILE|delete ID`` against a real Redis: stored rules reach the service's store, bad
files are refused whole with exit code 2, an unknown id is exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serving.cli import build_app
from serving.rules_store import list_rules


@pytest.fixture
def env(redis_url: str, recs_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RECS_REDIS_URL", redis_url)
    return redis_url


def test_add_list_and_delete(env: str, redis_client, tmp_path: Path) -> None:
    file = tmp_path / "rules.json"
    file.write_text(
        json.dumps(
            [
                {"rule_id": "no-tents", "action": "block", "category": "Camping"},
                {"action": "pin", "item_id": "tent-2p-explorer", "position": 1, "surface": "popular"},
            ]
        )
    )
    runner = CliRunner()
    added = runner.invoke(build_app(), ["rules", "add", str(file)])
    assert added.exit_code == 0, added.output
    assert "stored rule no-tents (block)" in added.output
    rules, version = list_rules(redis_client)
    assert version == 2 and {r.action for r in rules} == {"block", "pin"}
    listed = runner.invoke(build_app(), ["rules", "list"])
    assert listed.exit_code == 0 and "no-tents" in listed.output and "category=Camping" in listed.output
    deleted = runner.invoke(build_app(), ["rules", "delete", "no-tents"])
    assert deleted.exit_code == 0 and "rules version 3" in deleted.output
    assert [r.action for r in list_rules(redis_client)[0]] == ["pin"]
    again = runner.invoke(build_app(), ["rules", "delete", "no-tents"])
    assert again.exit_code == 1 and "no rule 'no-tents'" in again.output


def test_a_file_with_one_bad_rule_stores_nothing(env: str, redis_client, tmp_path: Path) -> None:
    file = tmp_path / "rules.json"
    file.write_text(json.dumps([{"action": "block", "category": "Camping"}, {"action": "pin", "item_id": "x"}]))
    result = CliRunner().invoke(build_app(), ["rules", "add", str(file)])
    assert result.exit_code == 2
    assert "pin needs an item_id and a position" in result.output and "Nothing stored" in result.output
    assert list_rules(redis_client) == ([], 0)
    file.write_text("{not json")
    assert CliRunner().invoke(build_app(), ["rules", "add", str(file)]).exit_code == 2
