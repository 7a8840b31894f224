"""Every trial records the images its containers ran: the kubelet's digests, never an agent's word.

The pods are the operator's own manifests (`objects.sandbox_pod`, `objects.agent_pod`)
with statuses shaped as a kubelet (containerd, or dockershim's ``docker-pullable://``)
writes them: init containers that ended, containers running or ended, and a pull that
failed (``ErrImagePull``, then ``ImagePullBackOff``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubegym.api import images as images_api
from kubegym.api import trials
from kubegym.api.images import ImageRecord
from kubegym.operator import digests, informer, objects
from kubegym.operator import trials as trial_logic
from kubegym.operator.settings import Settings
from kubegym.operator.trials import AttemptPods

from .builders import NOW, attempt, honest_record, run_spec, seconds, summary, task, trial_view

REGISTRY = "127.0.0.1:5100/kubegym"
TASK_DIGEST = "sha256:79ec" + "1" * 60
DATA_DIGEST = "sha256:5d0a" + "2" * 60
AGENT_DIGEST = "sha256:a9e7" + "3" * 60
OTHER_DIGEST = "sha256:dead" + "4" * 60
TASK_IMAGE = f"{REGISTRY}/task-polyfit:0.1"
DATA_IMAGE = f"{REGISTRY}/task-polyfit-data:0.1"
AGENT_IMAGE = f"{REGISTRY}/kubegym:0.1"


def the_attempt(image: str = TASK_IMAGE, data_image: str = DATA_IMAGE) -> objects.Attempt:
    return attempt(
        task_obj=task(image=image, dataImage=data_image),
        settings=Settings(agent_image=AGENT_IMAGE),
    )


def ended(name: str, image_id: str, *, image: str, message: str | None = None) -> dict[str, Any]:
    terminated: dict[str, Any] = {
        "exitCode": 0,
        "reason": "Completed",
        "startedAt": "2025-03-01T12:00:02Z",
        "finishedAt": "2025-03-01T12:00:03Z",
        "containerID": "containerd://" + "c" * 64,
    }
    if message is not None:
        terminated["message"] = message
    return {
        "name": name,
        "image": image,
        "imageID": image_id,
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"terminated": terminated},
    }


def started(name: str, image_id: str, *, image: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imageID": image_id,
        "ready": True,
        "restartCount": 0,
        "started": True,
        "containerID": "containerd://" + "d" * 64,
        "state": {"running": {"startedAt": "2025-03-01T12:00:05Z"}},
    }


def pulling(name: str, reason: str, *, image: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {
            "waiting": {
                "reason": reason,
                "message": f'Back-off pulling image "{image}"'
                if reason == "ImagePullBackOff"
                else f"failed to pull and unpack image {image}: not found",
            }
        },
    }


def with_status(manifest: dict[str, Any], phase: str, **status: Any) -> dict[str, Any]:
    pod = copy.deepcopy(manifest)
    pod["metadata"]["creationTimestamp"] = "2025-03-01T11:59:00Z"
    pod["status"] = {
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2025-03-01T12:00:05Z"}
        ],
        "startTime": "2025-03-01T12:00:00Z",
        **status,
    }
    return pod


def sandbox_running(a: objects.Attempt, task_id: str, data_id: str) -> dict[str, Any]:
    manifest = objects.sandbox_pod(a)
    task_image, data_image = a.task.spec.image or "", a.task.spec.resolved_data_image() or ""
    return with_status(
        manifest,
        "Running",
        initContainerStatuses=[
            ended("workspace", task_id, image=task_image),
            ended("task-data", data_id, image=data_image),
        ],
        containerStatuses=[
            started("evaluator", task_id, image=task_image),
            started("jail", task_id, image=task_image),
            started("sandbox", task_id, image=task_image),
        ],
    )


def agent_running(a: objects.Attempt, agent_id: str) -> dict[str, Any]:
    manifest = objects.agent_pod(a)
    return with_status(
        manifest, "Running", containerStatuses=[started("agent", agent_id, image=AGENT_IMAGE)]
    )


def by_container(records: list[ImageRecord]) -> dict[tuple[str, str], ImageRecord]:
    return {(r.pod, r.container): r for r in records}


# -- collecting from the kubelet's statuses ----------------------------------------------------


def test_every_container_of_both_pods_is_recorded_with_its_digest() -> None:
    a = the_attempt()
    sandbox = sandbox_running(
        a, f"{REGISTRY}/task-polyfit@{TASK_DIGEST}", f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}"
    )
    agent = agent_running(a, f"{REGISTRY}/kubegym@{AGENT_DIGEST}")
    found = digests.collect(sandbox, agent)
    assert [(r.pod, r.container) for r in found] == [
        ("agent", "agent"),
        ("sandbox", "evaluator"),
        ("sandbox", "jail"),
        ("sandbox", "sandbox"),
        ("sandbox", "task-data"),
        ("sandbox", "workspace"),
    ]
    seen = by_container(found)
    # Named by tag, run by digest: both are kept.
    assert seen["sandbox", "workspace"].image == TASK_IMAGE
    assert seen["sandbox", "workspace"].digest == f"{REGISTRY}/task-polyfit@{TASK_DIGEST}"
    assert seen["sandbox", "task-data"].digest == f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}"
    assert seen["agent", "agent"].image == AGENT_IMAGE
    assert seen["agent", "agent"].digest == f"{REGISTRY}/kubegym@{AGENT_DIGEST}"
    assert all(r.note is None and r.reason is None and not r.pinned for r in found)
    # The same pods read again give the same list (the status is written only on a change).
    assert digests.collect(sandbox, agent) == found


def test_runtime_prefixes_and_tags_are_dropped_from_the_image_id() -> None:
    image_ids = {
        f"docker-pullable://{REGISTRY}/task-polyfit@{TASK_DIGEST}": (
            f"{REGISTRY}/task-polyfit@{TASK_DIGEST}"
        ),
        f"docker://{REGISTRY}/task-polyfit@{TASK_DIGEST}": f"{REGISTRY}/task-polyfit@{TASK_DIGEST}",
        f"{REGISTRY}/task-polyfit:0.1@{TASK_DIGEST}": f"{REGISTRY}/task-polyfit@{TASK_DIGEST}",
        f"docker.io/library/python@{TASK_DIGEST}": f"docker.io/library/python@{TASK_DIGEST}",
        # A node-local image (imported, never pulled): the runtime knows only its ID.
        f"docker://{TASK_DIGEST}": TASK_DIGEST,
        TASK_DIGEST: TASK_DIGEST,
        "": None,
    }
    for image_id, expected in image_ids.items():
        assert images_api.normalise_image_id(image_id) == expected, image_id
        assert digests.record("sandbox", "sandbox", TASK_IMAGE, image_id).digest == expected


def test_an_image_that_cannot_be_pulled_is_recorded_without_a_digest() -> None:
    a = the_attempt()
    task_id = f"{REGISTRY}/task-polyfit@{TASK_DIGEST}"
    sandbox = with_status(
        objects.sandbox_pod(a),
        "Pending",
        initContainerStatuses=[
            ended("workspace", task_id, image=TASK_IMAGE),
            pulling("task-data", "ImagePullBackOff", image=DATA_IMAGE),
        ],
        containerStatuses=[
            {
                "name": name,
                "image": TASK_IMAGE,
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}},
            }
            for name in ("evaluator", "jail", "sandbox")
        ],
    )
    seen = by_container(digests.collect(sandbox, None))
    lost = seen["sandbox", "task-data"]
    assert (lost.image, lost.digest, lost.reason) == (DATA_IMAGE, None, "ImagePullBackOff")
    assert lost.note is None
    assert seen["sandbox", "sandbox"].reason == "PodInitializing"
    assert seen["sandbox", "workspace"].digest == task_id
    # Through the Trial's logic: the pull failure is retried, the retry starts afresh ...
    trial = trial_view(phase="Running", attempt=0, start_time=NOW - seconds(120))
    agent = with_status(
        objects.agent_pod(a),
        "Pending",
        containerStatuses=[pulling("agent", "ErrImagePull", image=AGENT_IMAGE)],
    )
    retried = trial_logic.decide(
        trial, AttemptPods(sandbox, agent), task=a.task, run=run_spec(), now=NOW
    )
    assert retried.status is not None and retried.status.attempt == 1
    assert retried.status.infra_failures[-1].reason == "ImagePullFailed"
    assert retried.status.images == []
    # ... and once the retries are spent, the last attempt's images say what was not pulled.
    spent = trial_view(
        phase="Running",
        attempt=3,
        start_time=NOW - seconds(120),
        infra_failures=[
            trials.AttemptFailure(attempt=i, reason="ImagePullFailed") for i in range(3)
        ],
    )
    final = trial_logic.decide(
        spent, AttemptPods(sandbox, agent), task=a.task, run=run_spec(), now=NOW
    )
    assert final.status is not None and final.status.phase == "Failed"
    assert final.status.exit_reason == "infra_error"
    recorded = by_container(final.status.images)
    assert recorded["sandbox", "task-data"].digest is None
    assert recorded["agent", "agent"] == ImageRecord(
        pod="agent", container="agent", image=AGENT_IMAGE, reason="ErrImagePull"
    )


def test_a_missing_image_id_is_recorded_as_null_without_an_error() -> None:
    # kubegym's process kubelet runs programs, not images: its statuses carry no imageID.
    a = the_attempt()
    sandbox = sandbox_running(a, "", "")
    for status in sandbox["status"]["containerStatuses"]:
        del status["imageID"]
    agent = agent_running(a, "")
    found = digests.collect(sandbox, agent)
    assert len(found) == 6
    assert all(r.digest is None and r.note is None for r in found)


def test_a_pinned_image_run_by_its_digest_has_no_note() -> None:
    pinned = f"{REGISTRY}/task-polyfit@{TASK_DIGEST}"
    a = the_attempt(image=pinned, data_image=f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}")
    sandbox = sandbox_running(a, pinned, f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}")
    found = digests.collect(sandbox, None)
    assert all(r.pinned and r.note is None for r in found)
    assert {r.digest for r in found} == {pinned, f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}"}


def test_a_pinned_image_that_ran_another_digest_gets_an_integrity_note() -> None:
    pinned = f"{REGISTRY}/task-polyfit@{TASK_DIGEST}"
    a = the_attempt(image=pinned, data_image=f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}")
    # The runtime says it ran something else for the sandbox container.
    sandbox = sandbox_running(a, pinned, f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}")
    for status in sandbox["status"]["containerStatuses"]:
        if status["name"] == "sandbox":
            status["imageID"] = f"{REGISTRY}/task-polyfit@{OTHER_DIGEST}"
    seen = by_container(digests.collect(sandbox, None))
    wrong = seen["sandbox", "sandbox"]
    assert wrong.digest == f"{REGISTRY}/task-polyfit@{OTHER_DIGEST}"
    assert wrong.note == f"named by digest {TASK_DIGEST}, but the runtime ran {OTHER_DIGEST}"
    assert seen["sandbox", "evaluator"].note is None
    # The Trial's status carries it and a Warning event says so, once.
    trial = trial_view(phase="Running", start_time=NOW - seconds(60), scheduled_time=NOW)
    pods = AttemptPods(sandbox, agent_running(a, f"{REGISTRY}/kubegym@{AGENT_DIGEST}"))
    decision = trial_logic.decide(trial, pods, task=a.task, run=run_spec(), now=NOW)
    assert decision.status is not None
    assert by_container(decision.status.images)["sandbox", "sandbox"].note == wrong.note
    assert [e[:2] for e in decision.events] == [("Warning", "ImageIntegrity")]
    assert OTHER_DIGEST in decision.events[0][2]
    again = trial_logic.decide(
        trial_view(
            phase="Running",
            start_time=NOW - seconds(60),
            scheduled_time=NOW,
            images=decision.status.images,
        ),
        pods,
        task=a.task,
        run=run_spec(),
        now=NOW,
    )
    assert again.status is None and again.events == []


def test_a_pinned_image_known_only_by_its_node_local_id_cannot_be_checked() -> None:
    pinned = f"{REGISTRY}/task-polyfit@{TASK_DIGEST}"
    found = digests.record("sandbox", "sandbox", pinned, OTHER_DIGEST)
    assert found.digest == OTHER_DIGEST
    assert found.note is not None and "cannot be checked" in found.note


def test_an_image_id_that_is_no_digest_is_noted_not_recorded() -> None:
    found = digests.record("sandbox", "sandbox", TASK_IMAGE, "docker://not-a-digest\nforged")
    assert found.digest is None
    assert found.note is not None and "is not a sha256 digest" in found.note


def test_merging_keeps_a_late_digest_and_both_digests_of_a_moved_tag() -> None:
    waiting = digests.record("agent", "agent", AGENT_IMAGE, "", "ContainerCreating")
    ran = digests.record("agent", "agent", AGENT_IMAGE, f"{REGISTRY}/kubegym@{AGENT_DIGEST}")
    assert digests.merge([waiting], [ran]) == [ran]
    assert digests.merge([ran], [waiting]) == [ran]
    moved = digests.record("agent", "agent", AGENT_IMAGE, f"{REGISTRY}/kubegym@{OTHER_DIGEST}")
    assert digests.merge([ran], [moved, ran]) == sorted([ran, moved], key=lambda r: r.digest or "")


# -- through the Trial's logic -------------------------------------------------------------------


def test_a_running_trial_shows_its_images_and_a_finished_one_keeps_them() -> None:
    a = the_attempt()
    task_id = f"{REGISTRY}/task-polyfit@{TASK_DIGEST}"
    sandbox = sandbox_running(a, task_id, f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}")
    agent = agent_running(a, f"docker-pullable://{REGISTRY}/kubegym@{AGENT_DIGEST}")
    trial = trial_view(phase="Running", start_time=NOW - seconds(60))
    running = trial_logic.decide(
        trial, AttemptPods(sandbox, agent), task=a.task, run=run_spec(), now=NOW
    )
    assert running.status is not None
    assert len(running.status.images) == 6
    assert by_container(running.status.images)["agent", "agent"].digest == (
        f"{REGISTRY}/kubegym@{AGENT_DIGEST}"
    )
    # The CRD's shape: camelCase, null digests kept as null.
    wire = running.status.model_dump(mode="json", by_alias=True)["images"]
    assert wire[0] == {
        "pod": "agent",
        "container": "agent",
        "image": AGENT_IMAGE,
        "digest": f"{REGISTRY}/kubegym@{AGENT_DIGEST}",
        "reason": None,
        "note": None,
    }
    # The agent finishes, the evaluator has scored: the images stay in the final status.
    result = summary()
    done_agent = copy.deepcopy(agent)
    done_agent["status"]["phase"] = "Succeeded"
    done_agent["status"]["containerStatuses"] = [
        ended("agent", agent["status"]["containerStatuses"][0]["imageID"], image=AGENT_IMAGE)
    ]
    done_agent["status"]["containerStatuses"][0]["state"]["terminated"]["message"] = (
        result.to_message()
    )
    done_sandbox = copy.deepcopy(sandbox)
    statuses = done_sandbox["status"]["containerStatuses"]
    statuses[0] = ended(
        "evaluator", task_id, image=TASK_IMAGE, message=honest_record(result).to_message()
    )
    finished = trial_logic.decide(
        trial_view(
            phase="Running",
            start_time=NOW - seconds(60),
            scheduled_time=NOW,
            images=running.status.images,
        ),
        AttemptPods(done_sandbox, done_agent),
        task=a.task,
        run=run_spec(),
        now=NOW,
    )
    assert finished.status is not None and finished.status.phase == "Succeeded"
    assert finished.status.images == running.status.images


# -- attacks ---------------------------------------------------------------------------------------


def test_attack_an_agent_summary_carrying_images_never_reaches_the_record() -> None:
    # The agent writes its own termination message: a summary with a forged `images`
    # list (and an evaluator's digest swapped for another) must change nothing recorded.
    a = the_attempt()
    task_id = f"{REGISTRY}/task-polyfit@{TASK_DIGEST}"
    sandbox = sandbox_running(a, task_id, f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}")
    forged_images = [
        {
            "pod": "sandbox",
            "container": "evaluator",
            "image": TASK_IMAGE,
            "digest": f"{REGISTRY}/task-polyfit@{OTHER_DIGEST}",
        },
        {"pod": "agent", "container": "ghost", "image": "evil:1", "digest": OTHER_DIGEST},
    ]
    honest = summary()
    message = honest.to_message()
    forged = message[:-1] + ',"images":' + json.dumps(forged_images) + "}"
    agent = with_status(
        objects.agent_pod(a),
        "Succeeded",
        containerStatuses=[
            ended("agent", f"{REGISTRY}/kubegym@{AGENT_DIGEST}", image=AGENT_IMAGE, message=forged)
        ],
    )
    statuses = sandbox["status"]["containerStatuses"]
    statuses[0] = ended(
        "evaluator", task_id, image=TASK_IMAGE, message=honest_record(honest).to_message()
    )
    decision = trial_logic.decide(
        trial_view(phase="Running", start_time=NOW - seconds(60), scheduled_time=NOW),
        AttemptPods(sandbox, agent),
        task=a.task,
        run=run_spec(),
        now=NOW,
    )
    assert decision.status is not None
    recorded = decision.status.images
    assert recorded == digests.collect(sandbox, agent)
    assert all(OTHER_DIGEST not in (r.digest or "") for r in recorded)
    assert ("agent", "ghost") not in by_container(recorded)
    assert by_container(recorded)["sandbox", "evaluator"].digest == task_id
    # A summary is a closed shape: the unknown key makes it no summary at all (the agent's
    # own failure), never a source of digests.
    assert decision.status.exit_reason == "agent_error"


def test_the_pods_as_the_cache_keeps_them_give_the_same_records() -> None:
    # The operator reads pods from its cache, which keeps only part of each
    # (`informer.slim_pod`): nothing a record is made of may be left out.
    a = the_attempt()
    task_id = f"docker-pullable://{REGISTRY}/task-polyfit@{TASK_DIGEST}"
    data_id = f"{REGISTRY}/task-polyfit-data@{DATA_DIGEST}"
    pairs = [
        (sandbox_running(a, task_id, data_id), agent_running(a, f"{REGISTRY}/x@{OTHER_DIGEST}")),
        (sandbox_running(a, "", ""), agent_running(a, "")),
        (
            with_status(
                objects.sandbox_pod(a),
                "Pending",
                initContainerStatuses=[
                    ended("workspace", task_id, image=TASK_IMAGE, message="done"),
                    pulling("task-data", "ImagePullBackOff", image=DATA_IMAGE),
                ],
            ),
            with_status(
                objects.agent_pod(a),
                "Pending",
                containerStatuses=[pulling("agent", "ErrImagePull", image=AGENT_IMAGE)],
            ),
        ),
    ]
    for sandbox, agent in pairs:
        whole = digests.collect(sandbox, agent)
        assert whole, "the pods have records to compare"
        kept = digests.collect(informer.slim_pod(sandbox), informer.slim_pod(agent))
        assert kept == whole
