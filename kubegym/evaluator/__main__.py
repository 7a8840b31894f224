"""``python -m kubegym.evaluator serve`` and ``jail-serve``: the sandbox pod's two trusted programs.

The evaluator container of a trial's sandbox pod runs ``serve`` (`kubegym.operator.objects`
writes the command); it reads the attempt's ``trial.json``, builds the trial's
`kubegym.evaluator.judge.Judge` over the eval folder and hands over to
`kubegym.evaluator.server.serve`. A task that cannot be judged stops it at once, with
one line on standard error that says why. With ``--jail-socket`` and ``--jail-share`` the
agent code an evaluation runs goes to the pod's ``jail`` container instead of a jail of
the evaluator's own.

The ``jail`` container runs ``jail-serve``: `kubegym.evaluator.jails.JailServer`, as
another uid, without the eval folder, the token or the record.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOKEN_ENV = "KUBEGYM_EVALUATOR_TOKEN"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.evaluator",
        description="The kubegym evaluator server (one per trial attempt).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_serve(commands)
    _add_jail_serve(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``serve``: validate and submit over HTTP, for one trial attempt."""
    serve = commands.add_parser(
        "serve",
        help="serve validate and submit over HTTP",
        description=(
            "Serve validate and submit (openapi.yaml) for one trial. Prints one JSON line when "
            "ready: {'ready': true, 'port': N}. The token comes from --token-file or "
            f"${TOKEN_ENV}."
        ),
    )
    serve.add_argument("--config", required=True, help="the attempt's trial.json")
    serve.add_argument(
        "--eval-dir",
        required=True,
        help="the folder with the evaluation script and the hidden data at the task's paths",
    )
    serve.add_argument("--workspace", required=True, help="the trial's workspace (read only)")
    serve.add_argument("--host", default="127.0.0.1", help="TCP address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="TCP port; 0 picks one (default)")
    serve.add_argument("--token-file", metavar="FILE", help="a file holding the bearer token")
    serve.add_argument(
        "--record",
        metavar="FILE",
        help=(
            "where the trial's record goes (every scoring with its hidden test metrics, the "
            "validate count): /dev/termination-log in a pod, read by the operator; rewritten "
            "after every scoring and at the end (default: none)"
        ),
    )
    serve.add_argument(
        "--deadline-seconds",
        type=float,
        metavar="S",
        help="end the server (the record final) S seconds after it starts: the trial's wall time",
    )
    serve.add_argument(
        "--linger-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="after a submit, keep answering S seconds (a retried submit), then end (default: 30)",
    )
    serve.add_argument(
        "--python",
        metavar="PATH",
        default=None,
        help=(
            "the interpreter that runs the evaluation script: the task's environment, when it "
            "is not the one running this server (default: this interpreter)"
        ),
    )
    serve.add_argument(
        "--jail-socket",
        metavar="PATH",
        help=(
            "run agent code in the jail server listening here (`jail-serve`, the pod's jail "
            "container) instead of a jail of this process's own; needs --jail-share"
        ),
    )
    serve.add_argument(
        "--jail-share",
        metavar="DIR",
        help="the folder the jail server reads adapters and submissions from (written here)",
    )


def _add_jail_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``jail-serve``: jails for the agent code evaluations run, over a Unix socket."""
    jail = commands.add_parser(
        "jail-serve",
        help="serve jails for agent code to an evaluator over a Unix socket",
        description=(
            "Start jails for the agent code evaluations run (strategies, heuristics, model "
            "code), for the evaluator that connects to --socket. Run it as another uid than the "
            "evaluator, without the eval folder, the token or the record. Prints one JSON line "
            "when ready: {'ready': true, 'socket': PATH}."
        ),
    )
    jail.add_argument("--socket", required=True, help="the Unix socket to listen on")
    jail.add_argument(
        "--share", required=True, help="the folder the evaluator copies adapters and submissions to"
    )
    jail.add_argument(
        "--python",
        metavar="PATH",
        default=None,
        help="the interpreter that runs agent code (default: this interpreter)",
    )
    jail.add_argument(
        "--mode",
        choices=("auto", "bwrap", "process"),
        default="auto",
        help="bubblewrap where it runs (auto), or force one (default: auto)",
    )
    jail.add_argument("--memory", metavar="BYTES", type=int, help="memory of each jail")
    jail.add_argument("--pids", metavar="N", type=int, default=256, help="processes per jail")


def _fail(message: str) -> SystemExit:
    return SystemExit(f"kubegym evaluator: {message}")


def _token(token_file: str | None) -> str:
    """The token from the file, else from the environment (removed from it either way)."""
    from_env = os.environ.pop(TOKEN_ENV, "").strip()
    if token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise _fail(f"cannot read --token-file {token_file}: {exc}") from exc
        if not token:
            raise _fail(f"--token-file {token_file} is empty; write a token")
        return token
    if not from_env:
        raise _fail(f"no token; pass --token-file FILE or set {TOKEN_ENV}")
    return from_env


def _config(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"cannot read --config {path}: {exc}") from exc
    except ValueError as exc:
        raise _fail(f"--config {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or "task" not in data:
        raise _fail(f"--config {path} is not a trial config: it has no 'task'")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, build the trial's judge, and serve until SIGTERM.

    Returns:
        The exit status.
    """
    args = _parser().parse_args(argv)
    if args.command == "jail-serve":
        return _jail_serve(args)
    if (args.jail_socket is None) != (args.jail_share is None):
        raise _fail("--jail-socket and --jail-share go together")
    token = _token(args.token_file)
    config = _config(args.config)
    eval_dir = Path(args.eval_dir).absolute()
    workspace = Path(args.workspace).absolute()
    for flag, folder in (("--eval-dir", eval_dir), ("--workspace", workspace)):
        if not folder.is_dir():
            raise _fail(f"{flag} {folder} is not a folder")
    if args.python is not None and not os.access(args.python, os.X_OK):
        raise _fail(f"--python {args.python} is not an executable")
    # Imported here: pydantic and the task models are needed only past the flags.
    from kubegym.api import tasks
    from kubegym.errors import ConfigError
    from kubegym.evaluator import jails, judge, server
    from kubegym.tasks.catalog import TaskBundle

    jail: jails.JailMode = "auto"
    if args.jail_socket is not None:
        jail = jails.Remote(Path(args.jail_socket).absolute(), Path(args.jail_share).absolute())
        if not jail.share.is_dir():
            raise _fail(f"--jail-share {jail.share} is not a folder")

    validation = config.get("validation", "heldout")
    if validation not in ("heldout", "test"):
        raise _fail(
            f"--config {args.config}: validation must be heldout or test, not {validation!r}"
        )
    try:
        task = tasks.Task.model_validate(config["task"])
        bundle = TaskBundle(task, eval_dir)
        the_judge = judge.Judge(
            bundle,
            validation,
            python=args.python or sys.executable,
            env={"KUBEGYM_BUDGET": "1"},
            data_dir=eval_dir,
            jail=jail,
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    except ValueError as exc:  # pydantic's ValidationError
        raise _fail(f"--config {args.config}: the task is not valid: {exc}") from exc
    max_validations = (config.get("limits") or {}).get("maxValidations")
    if max_validations is not None and (
        not isinstance(max_validations, int) or max_validations < 0
    ):
        raise _fail(f"--config {args.config}: limits.maxValidations must be a count, 0 or more")
    app = server.EvaluatorApp(
        the_judge,
        server.ServerConfig(
            workspace=workspace,
            token=token,
            host=args.host,
            port=args.port,
            record=Path(args.record) if args.record else None,
            max_validations=max_validations,
            deadline_seconds=args.deadline_seconds,
            linger_seconds=args.linger_seconds,
        ),
    )
    try:
        return server.serve(app)
    except OSError as exc:
        raise _fail(f"cannot listen: {exc}") from exc


def _jail_serve(args: argparse.Namespace) -> int:
    """Serve jails until SIGTERM; every jail and every process below dies with it."""
    import logging
    import signal

    # One line per jail started or refused on standard error: the container's log.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    from kubegym.evaluator import jails

    share = Path(args.share).absolute()
    if not share.is_dir():
        raise _fail(f"--share {share} is not a folder")
    if args.python is not None and not os.access(args.python, os.X_OK):
        raise _fail(f"--python {args.python} is not an executable")
    server = jails.JailServer(
        Path(args.socket).absolute(),
        share,
        python=args.python or sys.executable,
        mode=args.mode,
        limits=jails.JailLimits(memory_bytes=args.memory, pids=args.pids),
    )
    try:
        server.bind()
    except OSError as exc:
        raise _fail(f"cannot listen on --socket {args.socket}: {exc}") from exc

    def stop(signum: int, frame: object) -> None:
        server.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"ready": True, "socket": str(server.socket_path)}), flush=True)
    server.serve_forever()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
