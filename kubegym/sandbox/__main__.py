"""``python -m kubegym.sandbox serve``: the entry point of the sandbox command server.

Task images and the local bubblewrap backend run this; it parses the flags, loads the token
and hands over to `kubegym.sandbox.server.serve`. Standard library only (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kubegym.sandbox import server, session


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.sandbox",
        description="The kubegym sandbox command server (one per trial).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the sandbox HTTP API",
        description=(
            "Serve the sandbox HTTP API (openapi.yaml) with one persistent bash session. "
            "Prints one JSON line when ready: {'ready': true, 'port': N} or "
            f"{{'ready': true, 'unix': PATH}}. The token comes from --token-file or "
            f"${session.TOKEN_ENV}."
        ),
    )
    serve.add_argument("--workspace", default=".", help="the shell's start folder (default: .)")
    serve.add_argument("--host", default="127.0.0.1", help="TCP address (default: 127.0.0.1)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, default=0, help="TCP port; 0 picks one (default)")
    where.add_argument("--unix", metavar="PATH", help="listen on this Unix socket instead of TCP")
    serve.add_argument("--token-file", metavar="FILE", help="a file holding the bearer token")
    serve.add_argument(
        "--timeout",
        type=float,
        default=session.DEFAULT_TIMEOUT_S,
        help=f"default command timeout in seconds (default: {session.DEFAULT_TIMEOUT_S:g})",
    )
    serve.add_argument(
        "--max-output",
        type=int,
        default=session.DEFAULT_MAX_OUTPUT,
        help=f"bytes of output kept per command, head and tail (default: {session.DEFAULT_MAX_OUTPUT})",
    )
    return parser


def _token(token_file: str | None) -> str:
    """The token from the file, else from the environment (removed from it either way)."""
    from_env = os.environ.pop(session.TOKEN_ENV, "")
    if token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise SystemExit(
                f"kubegym sandbox: cannot read --token-file {token_file}: {exc}"
            ) from exc
        if not token:
            raise SystemExit(f"kubegym sandbox: --token-file {token_file} is empty; write a token")
        return token
    if not from_env.strip():
        raise SystemExit(
            "kubegym sandbox: no token; pass --token-file FILE or set "
            f"{session.TOKEN_ENV} (every request but GET /healthz must carry it)"
        )
    return from_env.strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags and serve until SIGTERM.

    Returns:
        The exit status.
    """
    args = _parser().parse_args(argv)
    token = _token(args.token_file)
    workspace = Path(args.workspace).absolute()
    if not workspace.is_dir():
        raise SystemExit(f"kubegym sandbox: --workspace {workspace} is not a folder; create it")
    if args.timeout <= 0:
        raise SystemExit("kubegym sandbox: --timeout must be a positive number of seconds")
    if args.max_output < 0:
        raise SystemExit("kubegym sandbox: --max-output must be 0 or more bytes")
    config = server.ServerConfig(
        workspace=workspace,
        token=token,
        host=args.host,
        port=args.port,
        unix=args.unix,
        timeout=args.timeout,
        max_output=args.max_output,
    )
    try:
        return server.serve(config)
    except OSError as exc:
        raise SystemExit(f"kubegym sandbox: cannot listen: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
