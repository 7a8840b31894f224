"""A run whose sandbox may reach listed hosts: the trial's proxy starts with its sandbox, a
replayed agent's curl reaches a listed host and is refused another, and the trial's
results.json and egress.jsonl show both. A trial without hosts runs exactly as before."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import ipaddress
import json
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubegym import egress
from kubegym.api import documents, tasks
from kubegym.cli import main
from kubegym.egress import records
from kubegym.errors import ConfigError
from kubegym.local import network
from kubegym.local.runner import LocalRun
from tests.support import egress_servers


def egress_run(
    tmp_path: Path, repo: Path, actions: list[str], hosts: list[str], port: int
) -> LocalRun:
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    replay = tmp_path / "agent.jsonl"
    replay.write_text("".join(json.dumps({"action": a}) + "\n" for a in actions))
    spec: dict[str, object] = {
        "tasks": {"names": ["polyfit"]},
        "agents": [{"name": "curler", "builtin": "replay", "replayPath": str(replay)}],
        "seeds": 1,
        "retryPolicy": {"infraRetries": 0},
    }
    if hosts:
        spec["sandboxEgress"] = {"hosts": hosts}
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "egress"},
        "spec": spec,
    }
    parsed = documents.parse_run_file(yaml.safe_dump(run))
    settings = egress.ProxySettings(test_ports=frozenset({port}))  # the test server's port
    return LocalRun(parsed, tmp_path, tmp_path / "out", egress_settings=settings)


def test_a_trial_reaches_listed_hosts_only_and_its_results_say_what_it_contacted(
    tmp_path: Path, repo: Path
) -> None:
    with egress_servers.echo_http() as server:
        actions = [
            f"curl -sS --max-time 20 http://localhost:{server.port}/from-the-agent",
            "curl -sS --max-time 20 http://example.com/",
            "curl -sS --max-time 20 https://pypi.org.evil.example/",
            "submit",
        ]
        summary = asyncio.run(
            egress_run(tmp_path, repo, actions, ["localhost"], server.port).execute()
        )
    assert [r["path"] for r in server.seen.requests] == ["/from-the-agent"]
    (trial,) = summary.trials
    folder = summary.out / "trials" / trial.trial
    written = json.loads((folder / "results.json").read_text())
    assert written["egress"]["network"] == "allowlist"
    assert written["egress"]["allowlist"] == ["localhost"]
    rows = {h["host"]: h for h in written["egress"]["hosts"]}
    assert (rows["localhost"]["allowed"], rows["localhost"]["refused"]) == (1, 0)
    assert rows["localhost"]["bytes_down"] > 0
    assert (rows["example.com"]["allowed"], rows["example.com"]["refused"]) == (0, 1)
    assert (rows["pypi.org.evil.example"]["allowed"], rows["pypi.org.evil.example"]["refused"]) == (
        0,
        1,
    )
    logged = records.read(folder / "egress.jsonl")
    assert [(r.host, r.allowed) for r in logged] == [
        ("localhost", True),
        ("example.com", False),
        ("pypi.org.evil.example", False),
    ]
    assert {r.trial for r in logged} == {trial.trial}
    table = list(csv.DictReader((summary.out / "results.csv").open()))
    assert [row["network"] for row in table] == ["allowlist"]
    # What the agent saw: the listed host's answer, and the proxy's reasons.
    steps = (folder / "trajectory.jsonl").read_text()
    assert "/from-the-agent" in steps and "not on this trial's egress allowlist" in steps


def test_without_hosts_there_is_no_proxy_and_no_network(tmp_path: Path, repo: Path) -> None:
    with egress_servers.echo_http() as server:
        actions = [f"curl -sS --max-time 5 http://localhost:{server.port}/x; env | grep -ci proxy"]
        summary = asyncio.run(egress_run(tmp_path, repo, actions, [], server.port).execute())
    assert server.seen.requests == []
    (trial,) = summary.trials
    folder = summary.out / "trials" / trial.trial
    assert "egress" not in json.loads((folder / "results.json").read_text())
    assert not (folder / "egress.jsonl").exists()
    table = list(csv.DictReader((summary.out / "results.csv").open()))
    assert [row["network"] for row in table] == ["none"]


def test_kubegym_run_end_to_end_through_the_cli(tmp_path: Path, repo: Path) -> None:
    """`kubegym run` as a user types it, no test option anywhere: the run lists `localhost`,
    a server answers on the host's port 80 (so this needs root), the agent curls it and an
    unlisted host; results.json and egress.jsonl show both."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(egress_servers.echo_http(port=80))
        except OSError as exc:
            pytest.skip(f"cannot serve on the host's port 80 here: {exc}")
        (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
        replay = tmp_path / "agent.jsonl"
        actions = ["curl -sS --max-time 20 http://localhost/cli", "curl -sS http://example.com/"]
        replay.write_text("".join(json.dumps({"action": a}) + "\n" for a in actions))
        (tmp_path / "run.yaml").write_text(
            "apiVersion: kubegym.io/v1alpha1\nkind: BenchmarkRun\nmetadata: {name: cli}\n"
            "spec:\n  tasks: {names: [polyfit]}\n"
            "  agents: [{name: curler, builtin: replay, replayPath: agent.jsonl}]\n"
            "  sandboxEgress: {hosts: [localhost]}\n  retryPolicy: {infraRetries: 0}\n"
        )
        out = tmp_path / "out"
        result = CliRunner().invoke(
            main, ["run", str(tmp_path / "run.yaml"), "--out", str(out), "--json"]
        )
    assert result.exit_code == 0, result.output
    assert [r["path"] for r in server.seen.requests] == ["/cli"]
    (folder,) = (out / "trials").iterdir()
    egress_summary = json.loads((folder / "results.json").read_text())["egress"]
    assert [(h["host"], h["allowed"], h["refused"]) for h in egress_summary["hosts"]] == [
        ("localhost", 1, 0),
        ("example.com", 0, 1),
    ]
    logged = records.read(folder / "egress.jsonl")
    assert [(r.host, r.port, r.reason) for r in logged] == [
        ("localhost", 80, "allowed"),
        ("example.com", 80, "not_listed"),
    ]


def _task(repo: Path, network_kind: str, hosts: list[str]) -> tasks.Task:
    data = yaml.safe_load((repo / "examples" / "tasks" / "polyfit" / "task.yaml").read_text())
    data["spec"]["network"] = network_kind
    data["spec"]["egress"] = {"hosts": hosts}
    return tasks.Task.model_validate(data)


def _run(hosts: list[str]) -> documents.RunFile:
    text = yaml.safe_dump(
        {
            "apiVersion": "kubegym.io/v1alpha1",
            "kind": "BenchmarkRun",
            "metadata": {"name": "n"},
            "spec": {
                "tasks": {"names": ["polyfit"]},
                "agents": [{"name": "b", "builtin": "baseline"}],
                "sandboxEgress": {"hosts": hosts},
            },
        }
    )
    return documents.parse_run_file(text)


def test_the_allowlist_is_the_tasks_and_the_runs(repo: Path, tmp_path: Path) -> None:
    task, run = _task(repo, "none", ["pypi.org"]), _run(["*.huggingface.co", "pypi.org"]).run
    with contextlib.closing(network.TrialNetwork("t", task, run, tmp_path)) as net:
        assert net.allowlist.patterns == ("*.huggingface.co", "pypi.org")
        assert callable(net.opener("bwrap"))
        assert net.proxy is None  # it starts with the sandbox, not before
        summary = net.summary({"isolated": True})
    assert summary is not None and summary.network == "allowlist" and summary.hosts == []
    assert summary.log is None  # nothing was asked, no log was written


def test_an_open_network_is_recorded_as_such(repo: Path, tmp_path: Path) -> None:
    """`network: egress` (even with hosts listed) and a sandbox without isolation: open."""
    with contextlib.closing(
        network.TrialNetwork("t", _task(repo, "egress", ["pypi.org"]), _run([]).run, tmp_path)
    ) as net:
        assert net.opener("bwrap") == "bwrap"  # no proxy: the jail shares the host's network
        summary = net.summary({"isolated": True})
    assert summary is not None and summary.network == "open"
    with contextlib.closing(
        network.TrialNetwork("t", _task(repo, "none", ["pypi.org"]), _run([]).run, tmp_path)
    ) as net:
        summary = net.summary({"isolated": False})  # the process backend
    assert summary is not None and summary.network == "open"
    with contextlib.closing(
        network.TrialNetwork("t", _task(repo, "none", []), _run([]).run, tmp_path)
    ) as net:
        assert net.summary({"isolated": True}) is None


def test_a_bad_trusted_network_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(network.TRUSTED_ENV, "10.0.0.0/8, pypi.org")
    with pytest.raises(ConfigError, match=r"KUBEGYM_EGRESS_TRUSTED_NETWORKS: 'pypi\.org'"):
        network.settings_from_environment()
    monkeypatch.setenv(network.TRUSTED_ENV, "10.0.0.0/8, 203.0.113.80")
    trusted = network.settings_from_environment().trusted_networks
    assert [str(n) for n in trusted] == ["10.0.0.0/8", "203.0.113.80/32"]


def test_pip_in_a_trial_through_the_proxy(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run listing PyPI: the agent's pip (the system's: a task's venv has none) downloads a
    package, and nothing else gets out.
    Where this machine's DNS answers with a gateway's non-public address, the run trusts it
    as its user would ($KUBEGYM_EGRESS_TRUSTED_NETWORKS)."""
    hosts = ["pypi.org", "files.pythonhosted.org"]
    try:
        found = {info[4][0] for name in hosts for info in socket.getaddrinfo(name, 443)}
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        pytest.skip("PyPI is unreachable from this machine")
    if subprocess.run(["/usr/bin/python3", "-m", "pip", "--version"], check=False).returncode:
        pytest.skip("no system pip here")
    private = [str(a) for a in found if not ipaddress.ip_address(a).is_global]
    monkeypatch.setenv(network.TRUSTED_ENV, ",".join(private))
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    (tmp_path / "agent.jsonl").write_text(
        json.dumps(
            {"action": "/usr/bin/python3 -m pip download --no-deps -q -d dl six==1.16.0; ls dl"}
        )
        + "\n"
    )
    text = yaml.safe_dump(
        {
            "apiVersion": "kubegym.io/v1alpha1",
            "kind": "BenchmarkRun",
            "metadata": {"name": "pip"},
            "spec": {
                "tasks": {"names": ["polyfit"]},
                "agents": [{"name": "pip", "builtin": "replay", "replayPath": "agent.jsonl"}],
                "sandboxEgress": {"hosts": hosts},
                "retryPolicy": {"infraRetries": 0},
            },
        }
    )
    run = LocalRun(documents.parse_run_file(text), tmp_path, tmp_path / "out")
    summary = asyncio.run(run.execute())
    (trial,) = summary.trials
    folder = summary.out / "trials" / trial.trial
    assert "six-1.16.0-py2.py3-none-any.whl" in (folder / "trajectory.jsonl").read_text()
    reached = {h.host for h in trial.egress.hosts if h.allowed} if trial.egress else set()
    assert reached == set(hosts)
    assert all(r.allowed for r in records.read(folder / "egress.jsonl"))
