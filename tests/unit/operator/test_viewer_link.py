"""Each Trial links to its page in the installation's viewer, written when it is created."""

from __future__ import annotations

import pytest

from kubegym.errors import ConfigError
from kubegym.operator import labels
from kubegym.operator import runs as run_logic
from kubegym.operator.settings import Settings
from kubegym.operator.trials import ADMITTED
from tests.unit.operator.builders import NOW, run_view, task

BASE = "http://kubegym-viewer.kubegym-system.svc:8765"


def test_every_new_trial_carries_its_viewer_link_in_the_create_itself() -> None:
    run = run_view()
    decision = run_logic.decide(run, [task()], [], NOW, viewer_url=BASE + "/")
    assert decision.create
    for manifest in decision.create:
        name = manifest["metadata"]["name"]
        link = manifest["metadata"]["annotations"][labels.VIEWER]
        assert link == f"{BASE}/runs/{run.name}/trials/{name}"


def test_without_a_viewer_a_trial_has_no_annotation() -> None:
    decision = run_logic.decide(run_view(), [task()], [], NOW)
    assert decision.create
    assert all(labels.VIEWER not in m["metadata"].get("annotations", {}) for m in decision.create)


def test_the_link_quotes_what_it_appends() -> None:
    # Run and trial names are DNS names; a forged one still cannot leave its path segment.
    link = run_logic.viewer_link(BASE, "../admin", "t?x=1#y")
    assert link == f"{BASE}/runs/..%2Fadmin/trials/t%3Fx%3D1%23y"


def test_the_setting_comes_from_the_environment() -> None:
    settings = Settings.from_env({"KUBEGYM_VIEWER_URL": "https://viewer.example.com/kubegym/"})
    assert settings.viewer_url == "https://viewer.example.com/kubegym"
    assert Settings.from_env({}).viewer_url is None


@pytest.mark.parametrize(
    "url", ["viewer:8765", "javascript:alert(1)", "ftp://host/x", "http://h/?a=1", "http://h/#x"]
)
def test_a_viewer_url_that_is_not_a_plain_http_base_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"KUBEGYM_VIEWER_URL": url})
    assert "KUBEGYM_VIEWER_URL" in str(raised.value)


def test_a_trial_created_admitted_keeps_its_link() -> None:
    # Admission at creation adds its own annotation to the same create: both stay.
    decision = run_logic.decide(run_view(), [task()], [], NOW, viewer_url=BASE)
    admitted = [m for m in decision.create if labels.VIEWER in m["metadata"]["annotations"]]
    assert len(admitted) == len(decision.create)
    assert any(ADMITTED in m["metadata"]["annotations"] for m in decision.create)
