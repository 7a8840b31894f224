"""The whole path on the real node: `helm install`, `kubectl apply` of a run, trials in containers.

One run of a scripted model agent on polyfit. Its first commands are an attacker's:
they probe the sandbox container from inside (who am I, which capabilities, is there a
service-account token, can I write the system, the datasets, find the hidden answers,
reach the apiserver, the `kubernetes` Service, the model server or DNS); then it solves
the task honestly. The trial must score exactly what the local runner scores for the
same commands, and every probe must come back refused by the real container, the real
mounts and the enforced NetworkPolicy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.devcluster import realnode
from tests.support.openai_server import FakeOpenAI, serve_openai

from . import stack
from .conftest import NodeCluster

pytestmark = pytest.mark.node

#: Each probe, run by the sandbox server's shell in the sandbox container.
IDENTITY = "id -u; grep -E '^Cap(Eff|Prm)' /proc/self/status"
TOKEN = "ls /var/run/secrets/kubernetes.io/serviceaccount 2>&1 | head -1"
WRITES = (
    "for f in /usr/local/probe /etc/probe data/train.csv data/probe; do "
    '(echo x > $f) 2>/dev/null && echo "$f:written" || echo "$f:refused"; done'
)
HIDDEN = (
    "find / -xdev \\( -name valid.csv -o -name evaluate.py -o -path '*hidden*' \\) "
    "-not -path '/proc/*' 2>/dev/null | head -5; echo end-of-find"
)


def reach(targets: dict[str, tuple[str, int]]) -> str:
    """A command printing ``name:open`` or ``name:blocked`` for each TCP target, and DNS."""
    code = (
        "import socket\n"
        f"for name, (host, port) in {targets!r}.items():\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close(); print(name + ':open')\n"
        "    except OSError:\n"
        "        print(name + ':blocked')\n"
        "try:\n"
        "    socket.gethostbyname('kubernetes.default.svc.cluster.local'); print('dns:open')\n"
        "except OSError:\n"
        "    print('dns:blocked')\n"
    )
    return f"python - <<'EOF'\n{code}EOF"


@pytest.fixture(scope="module")
def release(node_cluster: NodeCluster, node_api: Any) -> dict[str, Any]:
    """kubegym installed by its chart: the operator pod running from the locked image."""
    return stack.install(node_cluster, node_api)


@pytest.fixture
def model_server() -> Iterator[FakeOpenAI]:
    with serve_openai(host=realnode.NODE_IP) as server:
        yield server


def local_score(tmp_path: Path, commands: list[str]) -> float:
    """The local runner's score for the same commands (a replay agent, bubblewrap sandbox)."""
    (tmp_path / "tasks").symlink_to(stack.REPO / "examples" / "tasks")
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"action": c}) + "\n" for c in commands))
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "local"},
        "spec": {
            "tasks": {"names": ["polyfit"]},
            "agents": [{"name": "replay", "builtin": "replay", "replayPath": replay.name}],
            "seeds": 1,
        },
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    result = subprocess.run(
        [sys.executable, "-m", "kubegym", "run", str(tmp_path / "run.yaml"),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = (tmp_path / "out" / "trials").glob("*/results.json")
    score = json.loads(path.read_text())["score"]
    assert isinstance(score, float)
    return score


def test_a_helm_installed_operator_runs_a_trial_in_containers_that_hold_against_its_agent(
    node_cluster: NodeCluster,
    node_api: Any,
    node_namespace: str,
    release: dict[str, Any],
    model_server: FakeOpenAI,
    tmp_path: Path,
) -> None:
    # The operator runs as the chart's pod, from the locked image, read-only, non-root.
    (operator,) = release["spec"]["containers"]
    assert operator["image"] == node_cluster.images["kubegym"]
    assert operator["securityContext"]["readOnlyRootFilesystem"] is True
    (status,) = release["status"]["containerStatuses"]
    assert status["imageID"].endswith(node_cluster.lock.image("kubegym").digest)

    apiserver_port = int(node_cluster.info.apiserver.rsplit(":", 1)[1])
    model_port = int(model_server.base_url.rsplit(":", 1)[1].split("/")[0])
    network = reach(
        {
            "apiserver": (realnode.NODE_IP, apiserver_port),
            "kubernetes-service": ("10.0.0.1", 443),
            "model-server": (realnode.NODE_IP, model_port),
            "kubelet": (realnode.NODE_IP, 10250),
        }
    )
    probes = [IDENTITY, TOKEN, WRITES, HIDDEN, network]
    for command in [*probes, *stack.SOLVE]:
        model_server.reply(stack.reply("Next step.", command))

    run = "probe"
    stack.apply(
        node_api,
        node_namespace,
        stack.key_secret(),
        stack.polyfit_task(node_cluster),
        stack.model_run(run, model_server.base_url, tasks=["polyfit"]),
    )
    ended = stack.wait_for_run(node_api, node_namespace, run)
    (trial,) = stack.trials_of(node_api, node_namespace, run)
    assert ended["phase"] == "Succeeded", (
        trial.get("status"),
        stack.describe(node_api, node_namespace),
    )

    shown = stack.observations(model_server.requests)
    identity, token, writes, hidden, reached = shown[: len(probes)]
    assert identity.split()[:1] == ["1000"], identity
    assert "CapEff:\t0000000000000000" in identity and "CapPrm:\t0000000000000000" in identity
    assert "No such file or directory" in token, token
    for target in ("/usr/local/probe", "/etc/probe", "data/train.csv", "data/probe"):
        assert f"{target}:refused" in writes, writes
    assert "end-of-find" in hidden and "valid.csv" not in hidden and "evaluate.py" not in hidden
    for target in ("apiserver", "kubernetes-service", "model-server", "kubelet", "dns"):
        assert f"{target}:blocked" in reached, reached

    # The agent pod itself reached its one allowed endpoint (every step came from there),
    # and the score is the local runner's for the same commands.
    status_ = trial["status"]
    assert status_["exitReason"] == "submitted" and status_["attempt"] == 0, status_
    assert status_["score"] == pytest.approx(local_score(tmp_path, [*probes, *stack.SOLVE]))
    digests = {(i["pod"], i["container"]): i["digest"] for i in status_["images"]}
    lock = node_cluster.lock
    assert digests[("sandbox", "sandbox")].endswith(lock.image("task-polyfit").digest)
    assert digests[("sandbox", "task-data")].endswith(lock.image("task-polyfit-data").digest)
    assert digests[("agent", "agent")].endswith(lock.image("kubegym").digest)


def test_the_readme_walkthrough_runs_the_baseline_in_containers_with_digests_recorded(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str, release: dict[str, Any]
) -> None:
    """README's "Real containers on this machine": the Task patched with the node's tag,
    examples/real-node-run.yaml applied with kubectl; both trials score and say which
    image digests they ran."""
    kubectl = [node_cluster.info.kubectl, "--kubeconfig", str(node_cluster.kubeconfig),
               "--namespace", node_namespace]  # fmt: skip
    registry = node_cluster.info.real_node["registry"]  # type: ignore[index]
    image = f"{registry}/kubegym/task-polyfit:{node_cluster.lock.version}"
    patch = json.dumps({"spec": {"image": image}})
    for args in (
        ["apply", "-f", str(stack.REPO / "examples" / "tasks" / "polyfit" / "task.yaml")],
        ["patch", "task", "polyfit", "--type", "merge", "-p", patch],
        ["apply", "-f", str(stack.REPO / "examples" / "real-node-run.yaml")],
    ):
        result = subprocess.run([*kubectl, *args], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    status = stack.wait_for_run(node_api, node_namespace, "polyfit-real")
    trials = stack.trials_of(node_api, node_namespace, "polyfit-real")
    assert status["phase"] == "Succeeded", [t.get("status") for t in trials]
    lock = node_cluster.lock
    for trial in trials:
        assert trial["status"]["phase"] == "Succeeded" and trial["status"]["score"] is not None
        ran = {(i["pod"], i["container"]): i["digest"] for i in trial["status"]["images"]}
        assert ran[("sandbox", "sandbox")].endswith("@" + lock.image("task-polyfit").digest)
        assert ran[("sandbox", "task-data")].endswith("@" + lock.image("task-polyfit-data").digest)
        assert ran[("agent", "agent")].endswith("@" + lock.image("kubegym").digest)


def suite_task(node: NodeCluster, name: str) -> dict[str, Any]:
    """task_images/<name> as a Task on the node: its images by digest, sized for the node."""
    task: dict[str, Any] = yaml.safe_load(
        (stack.REPO / "task_images" / name / "task.yaml").read_text()
    )
    task["spec"]["image"] = node.images[f"task-{name}"]
    task["spec"]["dataImage"] = node.images[f"task-{name}-data"]
    # The node has 2 CPUs: one trial's sandbox pod and agent pod at a time.
    task["spec"]["resources"] = {"cpu": "500m", "memory": "2Gi", "ephemeralStorage": "2Gi"}
    return task


def local_baseline_scores(tmp_path: Path, names: list[str]) -> dict[str, float]:
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "local-baseline"},
        "spec": {
            "tasks": {"names": names},
            "agents": [{"name": "baseline", "builtin": "baseline"}],
            "seeds": 1,
        },
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    result = subprocess.run(
        [sys.executable, "-m", "kubegym", "run", str(tmp_path / "run.yaml"),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=900, check=False, cwd=stack.REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    scores = {}
    for path in (tmp_path / "out" / "trials").glob("*/results.json"):
        found = json.loads(path.read_text())
        scores[found["task"]] = found["score"]
    return scores


def test_house_price_and_a_game_score_in_containers_as_they_do_locally(
    node_cluster: NodeCluster,
    node_api: Any,
    node_namespace: str,
    release: dict[str, Any],
    tmp_path: Path,
) -> None:
    """The baseline on house-price (scikit-learn in the task image) and prisoners-dilemma
    (its strategy played in the sandbox pod's jail container, as uid 1001): same scores."""
    from kubernetes import client

    names = ["house-price", "prisoners-dilemma"]
    custom = client.CustomObjectsApi(node_api)
    for name in names:
        custom.create_namespaced_custom_object(
            stack.G, stack.V, node_namespace, "tasks", suite_task(node_cluster, name)
        )
    run = {
        "apiVersion": f"{stack.G}/{stack.V}",
        "kind": "BenchmarkRun",
        "metadata": {"name": "suite"},
        "spec": {
            "tasks": {"names": names},
            "agents": [{"name": "baseline", "builtin": "baseline"}],
            "seeds": 1,
            "parallelism": 1,
        },
    }
    custom.create_namespaced_custom_object(stack.G, stack.V, node_namespace, "benchmarkruns", run)
    status = stack.wait_for_run(node_api, node_namespace, "suite", timeout=900)
    trials = stack.trials_of(node_api, node_namespace, "suite")
    assert status["phase"] == "Succeeded", [t.get("status") for t in trials]
    on_cluster = {t["spec"]["task"]: t["status"]["score"] for t in trials}
    locally = local_baseline_scores(tmp_path, names)
    assert on_cluster.keys() == locally.keys() == set(names)
    for name in names:
        assert on_cluster[name] == pytest.approx(locally[name], rel=1e-6), name
