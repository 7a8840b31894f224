"""From inside a trial's sandbox: the hidden data, the evaluation script and the keys are out of reach."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from kubegym.agent_runner.env import ResearchEnv
from kubegym.tasks.catalog import TaskBundle


def run(env: ResearchEnv, command: str) -> tuple[str, int]:
    observation, _, _, _, info = env.step(command)
    return observation, info["exit_code"]


def test_hidden_data_and_evaluation_script_are_not_there(
    env: ResearchEnv, polyfit: TaskBundle
) -> None:
    for secret in ("hidden/test.csv", "hidden/valid.csv", "evaluate.py"):
        out, code = run(env, f"cat {polyfit.root / secret}")
        assert code != 0 and "No such file" in out
    out, code = run(env, "find / -path '*polyfit*' -o -name 'valid.csv' 2>/dev/null | head")
    listed = out.split("(Current step")[0]
    assert "polyfit" not in listed and "valid.csv" not in listed


def test_the_agents_data_is_read_only(env: ResearchEnv) -> None:
    out, code = run(env, "head -2 data/train.csv")
    assert code == 0 and out.startswith("x,y")
    out, code = run(env, "echo 1,2 >> data/train.csv")
    # Read-only bind; as root's unprivileged jail uid, file permissions refuse it first.
    assert code != 0 and ("Read-only file system" in out or "Permission denied" in out)
    out, code = run(env, "touch /usr/kubegym-was-here")
    assert code != 0


def test_the_agent_is_not_root_and_has_no_keys(env: ResearchEnv) -> None:
    out, code = run(env, "id -u")
    assert code == 0 and out.split()[0] != "0"
    out, _ = run(env, "env")
    assert "OPENAI_API_KEY" not in out and "sk-test" not in out
    out, _ = run(env, "cat /proc/1/environ | tr '\\0' '\\n'")
    assert "sk-test" not in out


def test_there_is_no_network(env: ResearchEnv) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        command = (
            "python -c \"import socket; socket.create_connection(('127.0.0.1', "
            f'{port}), timeout=2)"'
        )
        out, code = run(env, command)
    finally:
        listener.close()
    assert code != 0 and ("refused" in out or "unreachable" in out)
    assert accepted == []


def test_a_memory_hog_is_killed_and_reported(env: ResearchEnv) -> None:
    # polyfit allows 1 GiB; allocate 3 GiB and touch every page.
    out, code = run(env, "python -c \"b = bytearray(3 * 2**30); print('survived')\"")
    assert "survived" not in out.splitlines()
    assert code != 0
    assert "out of memory" in out or "MemoryError" in out
    out, code = run(env, "echo still-alive")
    assert code == 0 and "still-alive" in out


def test_a_fork_bomb_is_contained(env: ResearchEnv) -> None:
    command = (
        'python -c "\nimport os, time\nn = 0\nfor _ in range(20000):\n'
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(5); os._exit(0)\n    n += 1\nprint('forked', n)\n\""
    )
    out, _ = run(env, command)
    if "forked" in out:
        assert int(out.split("forked")[1].split()[0]) < 5000  # the pids limit stopped it
    else:  # the bomb took the sandbox's memory: it was killed, reported and restarted
        assert "has been restarted" in out
        assert "out of memory" in out or "limit of" in out
    out, code = run(env, "echo still-alive")
    assert code == 0 and "still-alive" in out


def test_system_copies_of_task_data_are_masked(polyfit: TaskBundle) -> None:
    from kubegym.api import tasks

    # A task whose test set also ships in a system folder (as Debian's Fashion-MNIST does).
    system_copy = Path("/usr/share/common-licenses")  # any folder the jail's /usr shows
    assert system_copy.is_dir()
    public = tasks.Dataset(
        name="public", debian={"package": "base-files", "path": str(system_copy)}
    )

    def files_seen(bundle: TaskBundle) -> int:
        env = ResearchEnv([bundle])
        try:
            env.reset(options={"task": "polyfit"})
            out, _ = run(env, f"ls {system_copy} | wc -l")
            return int(out.split()[0])
        finally:
            env.close()

    spec = polyfit.task.spec
    evaluation = spec.evaluation.model_copy(
        update={"test_data": [*spec.evaluation.test_data, public]}
    )
    task = polyfit.task.model_copy(
        update={"spec": spec.model_copy(update={"evaluation": evaluation})}
    )
    assert files_seen(polyfit) > 0  # visible while no task data comes from it
    assert files_seen(TaskBundle(task, polyfit.root)) == 0  # hidden once one does
