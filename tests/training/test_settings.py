"""Training settings come from RECS_* variables only: RECS_TUNE turns self-tuning off, a bare TUNE does nothing."""

from __future__ import annotations

import pytest

from training.settings import TrainingSettings


def test_recs_tune_false_turns_self_tuning_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECS_TUNE", "false")
    assert TrainingSettings().tune is False


def test_a_variable_without_the_prefix_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECS_TUNE", raising=False)
    monkeypatch.setenv("TUNE", "false")
    assert TrainingSettings().tune is True
