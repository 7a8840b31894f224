"""Prepared data is keyed by everything that makes it: a family's shared code included.

A family task's prepare.py is a short call into the family's module beside it
(the gymnax tasks' seeds, the games' schedules). If that module changed and the
key did not, a run would score against hidden data made by the old code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegym.tasks import catalog, preparation

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def game(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> catalog.TaskBundle:
    """prisoners-dilemma, whose prepare.py calls the repeated-games family's schedules.py."""
    monkeypatch.setenv("KUBEGYM_CACHE", str(tmp_path / "cache"))
    found = catalog.discover([REPO / "task_images"])
    return found["prisoners-dilemma"]


def test_a_change_to_the_familys_module_changes_the_key(game: catalog.TaskBundle) -> None:
    script = game.resolve(game.task.spec.preparation.script)  # type: ignore[union-attr]
    beside = sorted(p for p in script.parent.glob("*.py") if p != script)
    assert beside, "the family's modules lie beside the script in the assembled folder"
    before = preparation.prepared_root(game)
    assert preparation.prepared_root(game) == before  # stable
    beside[0].write_text(beside[0].read_text() + "\n# changed\n")
    assert preparation.prepared_root(game) != before


def test_a_change_to_the_script_changes_the_key(game: catalog.TaskBundle) -> None:
    script = game.resolve(game.task.spec.preparation.script)  # type: ignore[union-attr]
    before = preparation.prepared_root(game)
    script.write_text(script.read_text() + "\n# changed\n")
    assert preparation.prepared_root(game) != before
