"""kubegym_eval: the one helper every task evaluation script uses; standard library only.

Owns the two channels between a task's ``evaluate.py`` and the trusted scorer
(`kubegym.evaluator.scorer`), and the one protocol between ``evaluate.py`` and
the agent code it must run:

- `report` hands the metrics to the scorer through a private pipe
  (``KUBEGYM_METRICS_FD``) that agent code never holds; run by hand (no such
  variable), it prints them as one JSON line, as scripts always did.
- `start` runs agent code (a strategy, a heuristic, a model) through an
  *adapter* file of the task, in a jail that the scorer starts and owns
  (requested over ``KUBEGYM_JAIL_FD``); by hand, in a plain child process.
  `Agent.call` sends one request (a JSON header and raw arrays) and gets one
  reply: data only (moves, assignments, logits). The jailed side never sees
  the hidden data, the evaluation script or the metrics pipe, and never
  computes the score.
- Language models speak one reduced protocol on top of these frames, and the
  trusted side checks what they return: ``kubegym_lm.py`` beside this file
  (numpy; this file stays standard library only).
- ``python kubegym_eval.py serve …`` is the jailed side: it imports the
  adapter, which defines ``setup(submission) -> handler``, and answers
  requests with ``handler(header, arrays) -> (header, arrays)``. Its stdin and
  stdout carry the protocol; the agent's own prints go to stderr.

The scorer puts the folder holding this file (only this file) on
``PYTHONPATH``, so ``import kubegym_eval`` costs nothing and needs nothing the
task's environment may lack. Frames are a 4-byte big-endian header length,
the header (UTF-8 JSON), then the raw bytes of each array the header lists
(``{"dtype": "<f4", "shape": [4, 1024, 512]}``), checked against a short list
of dtypes and a size cap. Never pickle, never eval.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import numbers
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

METRICS_FD = "KUBEGYM_METRICS_FD"
"""The environment variable naming the write end of the scorer's metrics pipe."""

JAIL_FD = "KUBEGYM_JAIL_FD"
"""The environment variable naming the Unix socket that asks the scorer for a jail."""

DTYPES = {"<f2": 2, "<f4": 4, "<f8": 8, "<i2": 2, "<i4": 4, "<i8": 8, "<u2": 2, "|u1": 1}
"""The array element types the protocol carries, and their sizes in bytes."""

MAX_HEADER = 16 << 20
MAX_ARRAY = 8 << 30
_HEAD = struct.Struct(">I")
_reported = False

Arrays = list[tuple[str, tuple[int, ...], bytes]]
"""Arrays on the wire: ``(dtype, shape, raw bytes)``; ``numpy.frombuffer`` reads them."""

Handler = Callable[[dict[str, Any], Arrays], tuple[dict[str, Any], Arrays]]


BUILTIN_CALL = "builtin:call"
"""The adapter for a submission that is one Python file with one function (a game's
strategy): options ``function`` (its name), ``seed`` (for ``random`` and numpy) and
``pairs`` (turn the first argument's items into tuples, as histories are). Each
request ``{"args": [...]}`` gets ``{"value": <the function's result as data>}``."""


class AgentError(Exception):
    """The agent's code failed, broke the protocol, or took too long; the message says how."""


class Refusal(Exception):
    """Raised by an adapter: the submission cannot be used; the message is shown as it is."""


# --- metrics --------------------------------------------------------------------


def report(metrics: Mapping[str, object]) -> None:
    """Hand the evaluation's metrics to the scorer (once), or print them when run by hand.

    Args:
        metrics: metric name → number (other JSON values are allowed for extras).

    Raises:
        RuntimeError: called twice: one evaluation reports once.
    """
    global _reported
    if _reported:
        raise RuntimeError("kubegym_eval.report was already called; report once")
    _reported = True
    line = json.dumps(dict(metrics)) + "\n"
    fd = os.environ.get(METRICS_FD)
    if fd is None:
        sys.stdout.write(line)
        sys.stdout.flush()
        return
    data = line.encode()
    while data:
        data = data[os.write(int(fd), data) :]
    os.close(int(fd))


# --- the protocol -----------------------------------------------------------------


def send(
    fd: int, header: Mapping[str, Any], arrays: Sequence[tuple[str, tuple[int, ...], bytes]] = ()
) -> None:
    """Write one frame: the header (with its arrays' dtypes and shapes) and the arrays' bytes."""
    listed = []
    for dtype, shape, raw in arrays:
        _check_array(dtype, shape, len(raw))
        listed.append({"dtype": dtype, "shape": list(shape)})
    body = json.dumps({**header, "arrays": listed}, allow_nan=False).encode()
    _write_all(fd, _HEAD.pack(len(body)) + body)
    for _, _, raw in arrays:
        _write_all(fd, raw)


def receive(fd: int, deadline: float | None = None) -> tuple[dict[str, Any], Arrays]:
    """Read one frame; checks its header is a JSON object and every array's type and size.

    Args:
        fd: the file descriptor to read.
        deadline: `time.monotonic` value after which `AgentError` is raised; None: wait.

    Raises:
        AgentError: the other side closed, wrote a malformed frame, or missed the deadline.
    """
    (size,) = _HEAD.unpack(_read_exactly(fd, _HEAD.size, deadline))
    if size > MAX_HEADER:
        raise AgentError(f"a reply header of {size} bytes is over the {MAX_HEADER} byte limit")
    try:
        header = json.loads(_read_exactly(fd, size, deadline), parse_constant=_no_constant)
    except ValueError as exc:
        raise AgentError(f"a reply is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise AgentError("a reply header is not a JSON object with a list of arrays")
    arrays: Arrays = []
    for item in header.pop("arrays", []):
        if not isinstance(item, dict):
            raise AgentError("a reply lists an array that is not an object")
        dtype, shape = item.get("dtype"), item.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in shape
        ):
            raise AgentError(f"a reply's array shape {shape!r} is not a list of integers")
        nbytes = _check_array(dtype, tuple(shape), None)
        arrays.append((str(dtype), tuple(shape), _read_exactly(fd, nbytes, deadline)))
    return header, arrays


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_array(dtype: object, shape: Sequence[int], nbytes: int | None) -> int:
    if dtype not in DTYPES:
        raise AgentError(f"array dtype {dtype!r} is not one of {sorted(DTYPES)}")
    if len(shape) > 8 or any(n < 0 for n in shape):
        raise AgentError(f"array shape {list(shape)} is not a shape")
    expected = math.prod(shape) * DTYPES[str(dtype)]
    if expected > MAX_ARRAY:
        raise AgentError(f"an array of {expected} bytes is over the {MAX_ARRAY} byte limit")
    if nbytes is not None and nbytes != expected:
        raise AgentError(f"an array holds {nbytes} bytes; its shape says {expected}")
    return expected


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BrokenPipeError:
            raise AgentError("the other side of the protocol closed its input") from None


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    parts = bytearray()
    while len(parts) < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AgentError("timeout")
        chunk = os.read(fd, min(size - len(parts), 1 << 22))
        if not chunk:
            raise AgentError("closed")
        parts += chunk
    return bytes(parts)


# --- the trusted side: starting and talking to agent code ----------------------------


class Agent:
    """Agent code running behind an adapter; made by `start`. Close it (or use ``with``)."""

    def __init__(self, to_agent: int, from_agent: int, stderr: int, closer: Callable[[], None]):
        self._to, self._from, self._stderr, self._closer = to_agent, from_agent, stderr, closer
        self._tail = b""
        os.set_blocking(stderr, False)

    def call(
        self,
        header: Mapping[str, Any],
        arrays: Sequence[tuple[str, tuple[int, ...], bytes]] = (),
        *,
        timeout: float,
        doing: str,
    ) -> tuple[dict[str, Any], Arrays]:
        """Send one request and wait for its reply.

        Args:
            header: the request (JSON-able).
            arrays: raw arrays sent after it.
            timeout: seconds the reply may take.
            doing: what the request is, for messages ("one move (in game 3, round 2)").

        Raises:
            AgentError: the adapter replied with ``error`` (the agent code failed), the
                reply is malformed, the process ended, or ``timeout`` passed.
        """
        try:
            send(self._to, header, arrays)
            reply, out = receive(self._from, time.monotonic() + timeout)
        except AgentError as exc:
            raise self._explain(str(exc), timeout, doing) from None
        if "error" in reply:
            raise AgentError(str(reply["error"]))
        return reply, out

    def _explain(self, what: str, timeout: float, doing: str) -> AgentError:
        if what == "timeout":
            return AgentError(f"the agent's code took longer than {timeout:g} s on {doing}")
        if what in ("closed", "the other side of the protocol closed its input"):
            tail = self.stderr_tail()
            return AgentError(
                f"the agent's code ended unexpectedly while {doing}"
                + (f"; its last output:\n{tail}" if tail else "")
            )
        return AgentError(f"the agent's code broke the protocol while {doing}: {what}")

    def stderr_tail(self, limit: int = 1500) -> str:
        """The end of what the agent's code wrote to stderr (its prints included)."""
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self._stderr, 65536):
                self._tail = (self._tail + chunk)[-limit:]
        return self._tail.decode(errors="replace").strip()

    def close(self) -> None:
        """Stop the agent's code (all of its processes) and close the channels."""
        for fd in (self._to, self._from, self._stderr):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._closer()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start(
    adapter: str | os.PathLike[str],
    submission: str | os.PathLike[str],
    *,
    files: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
    task_dir: str | os.PathLike[str] | None = None,
) -> Agent:
    """Start the agent's code behind ``adapter`` and wait until it is ready.

    Under the scorer, the scorer starts it in a jail of its own (see the module
    docstring) with a copy of the submission; ``adapter`` and ``files`` are paths
    relative to the evaluation script's folder, copied into the jail. By hand it
    is a plain child process of this one.

    Args:
        adapter: the task's adapter file (defines ``setup(submission, options) -> handler``),
            or `BUILTIN_CALL`.
        submission: the submission file or folder, as the evaluation script got it.
        files: more task files the adapter imports (``starter/solver.py``), same folder layout.
        options: JSON-able settings handed to the adapter's ``setup``.
        timeout: seconds the agent's code may take to import and get ready.
        task_dir: the evaluation script's folder, for the by-hand path (default: that
            of ``sys.argv[0]``); under the scorer the jail's copy is used.

    Raises:
        AgentError: the code failed to load (the message says why) or took too long.
        RuntimeError: the scorer's metrics pipe is set but its jail channel is not:
            agent code is never run unjailed under the scorer.
    """
    here = Path(task_dir if task_dir is not None else Path(sys.argv[0]).parent).resolve()
    jail_fd = os.environ.get(JAIL_FD)
    if jail_fd is not None:
        agent = _start_jailed(int(jail_fd), str(adapter), list(files))
    elif os.environ.get(METRICS_FD) is not None:
        raise RuntimeError(
            f"{METRICS_FD} is set without {JAIL_FD}: refusing to run agent code unjailed"
        )
    else:
        local = str(adapter) if str(adapter) == BUILTIN_CALL else str(here / adapter)
        agent = _start_local(local, Path(submission).resolve())
    try:
        agent.call(
            {"op": "ready", "options": dict(options or {})},
            timeout=timeout,
            doing="loading the submission",
        )
    except BaseException:
        agent.close()
        raise
    return agent


class StrategyError(Exception):
    """The submitted strategy cannot be scored; the message says why."""


class Strategy:
    """A submitted game strategy behind the protocol: one request, one move, each timed.

    The games' evaluation scripts (prisoner's dilemma, battle of the sexes, Colonel Blotto)
    play through it. The scorer runs the strategy in a jail of its own (no network, no
    hidden data, no view of the evaluation, an unprivileged uid); by hand, in a plain
    child process.

    Args:
        submission: the strategy file.
        seed: seeds the strategy's random generators.
        function: the function the strategy file defines.
        move_seconds: the longest one move may take.
        import_seconds: importing the strategy file (numpy's import included).
        total_seconds: all moves together (under the task's evaluation timeout).

    Raises:
        StrategyError: the strategy cannot be imported or does not define ``function``.
    """

    def __init__(
        self,
        submission: str | os.PathLike[str],
        seed: int,
        *,
        function: str = "row_strategy",
        move_seconds: float = 2.0,
        import_seconds: float = 60.0,
        total_seconds: float = 540.0,
    ) -> None:
        self.function = function
        self.move_seconds = move_seconds
        self.total_seconds = total_seconds
        self.seconds = 0.0
        try:
            self._agent = start(
                BUILTIN_CALL,
                submission,
                options={"function": function, "seed": seed, "pairs": True},
                timeout=import_seconds,
            )
        except AgentError as exc:
            raise StrategyError(str(exc)) from None

    def move(self, history: object, where: str) -> object:
        """The strategy's answer to ``history``, as plain data.

        Raises:
            StrategyError: the strategy raised, ended, or took too long (one move or all).
        """
        started = time.monotonic()
        try:
            reply, _ = self._agent.call(
                {"args": [history]}, timeout=self.move_seconds, doing=f"one move ({where})"
            )
        except AgentError as exc:
            text = str(exc)
            if text.startswith("the agent's code"):
                raise StrategyError(text.replace("the agent's code", "the strategy", 1)) from None
            raise StrategyError(f"{self.function} failed {where}: {text}") from None
        self.seconds += time.monotonic() - started
        if self.seconds > self.total_seconds:
            raise StrategyError(
                f"{self.function} used more than {self.total_seconds:g} s in total "
                f"(stopped {where}); make each move faster"
            )
        return reply.get("value")

    def close(self) -> None:
        self._agent.close()


def _start_jailed(jail_fd: int, adapter: str, files: list[str]) -> Agent:
    """Ask the scorer for a jail over its Unix socket; it sends back the jail's three pipes."""
    channel = socket.socket(fileno=os.dup(jail_fd))
    with channel:
        channel.sendall(json.dumps({"adapter": adapter, "files": files}).encode() + b"\n")
        message, fds, _, _ = socket.recv_fds(channel, 1 << 16, 3)
        reply = json.loads(message.decode() or "{}")
        if "error" in reply or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise AgentError(str(reply.get("error", "the scorer started no jail")))
        jail_id = reply["jail"]

    def stop() -> None:
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(jail_fd)) as again:
            again.sendall(json.dumps({"stop": jail_id}).encode() + b"\n")
            # The whole answer ({"stopped": true}, 17 bytes): a byte left on this stream
            # would begin the reply to the evaluation's next jail request.
            again.recv(1 << 16)

    return Agent(fds[0], fds[1], fds[2], stop)


def _start_local(adapter: str, submission: Path) -> Agent:
    print("kubegym_eval: run by hand; the agent's code runs UNJAILED", file=sys.stderr)
    env = {k: v for k, v in os.environ.items() if k not in (METRICS_FD, JAIL_FD)}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    argv = [sys.executable, __file__, "serve", "--adapter", adapter]
    process = subprocess.Popen(
        [*argv, "--submission", str(submission)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert process.stdin and process.stdout and process.stderr

    def stop() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    return Agent(
        os.dup(process.stdin.fileno()),
        os.dup(process.stdout.fileno()),
        os.dup(process.stderr.fileno()),
        stop,
    )


# --- the jailed side ---------------------------------------------------------------


def to_data(value: object) -> object:
    """A returned value as plain JSON data: numpy integers and arrays too; anything else as its repr."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    if isinstance(value, list | tuple) or type(value).__name__ == "ndarray":
        try:
            return [to_data(item) for item in value]  # type: ignore[attr-defined]
        except TypeError:
            pass
    return f"{value!r} (a {type(value).__name__})"


def describe(exc: BaseException, hide: Sequence[str] = ()) -> str:
    """A failure in the agent's code: its traceback without the adapter's or this file's frames."""
    skip = {__file__, *hide}
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if f.filename not in skip and not f.filename.startswith("<frozen")
    ]
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if frames:
        text = (
            "Traceback (most recent call last):\n"
            + "".join(traceback.format_list(frames[-6:]))
            + text
        )
    return text[-2000:]


def load_module(name: str, path: Path) -> Any:
    """Import the file ``path`` as module ``name`` (registered, so others may import it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def call_adapter(submission: Path, options: Mapping[str, Any]) -> Handler:
    """`BUILTIN_CALL`: import the submission's file and call one of its functions per request."""
    import random

    seed = int(options.get("seed", 0))
    random.seed(seed)
    with contextlib.suppress(ImportError):
        import numpy

        numpy.random.seed(seed % 2**32)
    name = str(options["function"])
    try:
        module = load_module(submission.stem, submission)
    except BaseException as exc:
        raise Refusal(f"the file {submission.name} cannot be imported:\n{describe(exc)}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise Refusal(f"{submission.name} defines no function {name}")
    pairs = bool(options.get("pairs"))

    def handle(header: dict[str, Any], arrays: Arrays) -> tuple[dict[str, Any], Arrays]:
        args = list(header.get("args", []))
        if pairs and args:
            args[0] = [tuple(item) for item in args[0]]
        return {"value": to_data(function(*args))}, []

    return handle


def serve(adapter: str, submission: Path) -> None:
    """The jailed side: answer requests on stdin/stdout through the adapter's handler."""
    requests, replies = os.dup(0), os.dup(1)
    quiet = os.open(os.devnull, os.O_RDONLY)
    os.dup2(quiet, 0)
    os.dup2(2, 1)  # the agent's print() and input() never touch the protocol
    sys.stdout = sys.stderr
    header, _ = receive(requests)
    options = header.get("options") or {}
    try:
        if adapter == BUILTIN_CALL:
            handler = call_adapter(submission, options)
        else:
            handler = load_module("kubegym_adapter", Path(adapter)).setup(submission, options)
    except Refusal as exc:
        send(replies, {"error": str(exc)})
        return
    except BaseException as exc:
        send(replies, {"error": describe(exc, [adapter])})
        return
    send(replies, {"ready": True})
    while True:
        try:
            header, arrays = receive(requests)
        except AgentError:
            return  # the evaluation closed the channel: done
        try:
            answer, out = handler(header, arrays)
        except Refusal as exc:
            send(replies, {"error": str(exc)})
            return
        except BaseException as exc:
            send(replies, {"error": describe(exc, [adapter])})
            return
        send(replies, answer, out)


def _main(argv: Sequence[str]) -> None:
    if len(argv) != 5 or argv[0] != "serve" or argv[1] != "--adapter" or argv[3] != "--submission":
        sys.exit("usage: kubegym_eval.py serve --adapter FILE --submission PATH")
    sys.path.insert(0, str(Path(argv[4]).parent))
    # Serve from the importable module, not __main__: adapters `import kubegym_eval`,
    # and their `Refusal` must be the class `serve` catches.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    importlib.import_module("kubegym_eval").serve(argv[2], Path(argv[4]))


if __name__ == "__main__":
    _main(sys.argv[1:])
