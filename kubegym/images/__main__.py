"""``python -m kubegym.images``: build, push, or write the pins (``make images`` calls it).

The command line only parses and prints; the work is `kubegym.images.ensure`,
`kubegym.images.push` and `kubegym.images.write_locks`. Without a subcommand the
arguments are the build's, as before subcommands existed.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from kubegym import errors
from kubegym.images import _build, _debian, _lock, _plan, _push, _stage
from kubegym.images import _pins as pins

COMMANDS = ("build", "push", "write-locks")

_NAMES = (
    (f"{_plan.PYTHON_BASE}, {_plan.DATA_BASE}", "made here from Debian packages (buildah only)"),
    (_plan.PAUSE, "made here from kubegym/images/pause.c (buildah only)"),
    (_plan.KUBEGYM, "the operator and the agent runner (Dockerfile)"),
    ("sandbox-base-cpu, -cuda", "task_images/base/Dockerfile"),
    ("task-<task>", "each task with a Dockerfile"),
    ("task-<task>-data", "its data image"),
    ("node", "the group a real node's tests need (make node-images):"),
)
_NODE = textwrap.fill(
    ", ".join(_plan.NODE_IMAGES),
    80,
    initial_indent=" " * 4,
    subsequent_indent=" " * 4,
    break_on_hyphens=False,
)
_BUILD_EPILOG = (
    "image names for --only (comma-separated or repeated); what they start FROM comes too:\n"
    + "".join(f"  {name:<28}{what}\n" for name, what in _NAMES)
    + _NODE
    + """

examples:
  python -m kubegym.images build                        # every image, this version
  python -m kubegym.images build --only node            # what make node-images builds
  python -m kubegym.images build --only kubegym,task-polyfit --dry-run
  python -m kubegym.images build --keep-going           # past a failure, the rest
  python -m kubegym.images build --builder docker --version 0.1.0 --push
"""
)


def _names(values: Sequence[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.images",
        description="Build kubegym's images (buildah, no daemon; or docker), push them, "
        "or write the Python pins they install.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{build,push,write-locks}")
    build = commands.add_parser(
        "build",
        help="build images and write the lock (the default command)",
        description="Build images tagged with one version. With buildah (the default unless a "
        "docker daemon answers) the images go to the store and OCI layout under "
        "$KUBEGYM_CACHE/images, unchanged ones are skipped, and the lock records each "
        "digest.",
        epilog=_BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("--version", help="the images' tag (default: pyproject.toml's)")
    build.add_argument("--registry", default=_plan.DEFAULT_REGISTRY, help="repository prefix")
    build.add_argument(
        "--only", action="append", default=[], metavar="NAMES", help="only these images"
    )
    build.add_argument("--task", action="append", default=[], help="only this task (repeat)")
    build.add_argument(
        "--builder",
        choices=_plan.BUILDERS,
        help="buildah (daemonless, here) or docker; default: docker when its daemon answers",
    )
    build.add_argument("--dry-run", action="store_true", help="print the commands only")
    build.add_argument("--push", action="store_true", help="docker push every image built")
    build.add_argument(
        "--lock", type=Path, default=_lock.DEFAULT_LOCK, help="the lock file (buildah)"
    )
    build.add_argument("--force", action="store_true", help="rebuild unchanged images too")
    build.add_argument(
        "--keep-going",
        action="store_true",
        help="after a failure, build what does not need the failed image; fail at the end",
    )
    build.add_argument("--verbose", action="store_true", help="show the tools' output")
    build.add_argument(
        "--debian-snapshot",
        metavar="TIMESTAMP",
        help="take the bases' packages from snapshot.debian.org at this time "
        "(20250520T000000Z) instead of the current mirror",
    )
    build.add_argument(
        "--write-locks", action="store_true", help="rewrite requirements/*.txt and exit"
    )
    push = commands.add_parser(
        "push",
        help="push locked images into a registry, digests kept",
        description="Copy the lock's images from the OCI layout to a registry with skopeo "
        "(no conversion) and check each digest against the lock.",
    )
    push.add_argument("--lock", type=Path, default=_lock.DEFAULT_LOCK, help="the lock file")
    push.add_argument("--registry", default="127.0.0.1:5000", help="host:port")
    push.add_argument("--tls-verify", action="store_true", help="require verified HTTPS")
    push.add_argument(
        "--only", action="append", default=[], metavar="NAMES", help="only these images"
    )
    commands.add_parser("write-locks", help="rewrite requirements/*.txt from this environment")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--write-locks" in arguments:
        arguments = ["write-locks"]
    elif not arguments or arguments[0] not in (*COMMANDS, "-h", "--help"):
        arguments = ["build", *arguments]
    args = _parser().parse_args(arguments)
    try:
        if args.command == "write-locks":
            for path in pins.write_locks():
                print(path)
            return 0
        if args.command == "push":
            pushed = _push.push(
                _lock.load_lock(args.lock),
                args.registry,
                tls_verify=args.tls_verify,
                names=_names(args.only),
            )
            for name, reference in pushed.items():
                print(f"{name}\t{reference}")
            return 0
        return _build_command(args)
    except errors.KubegymError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _build_command(args: argparse.Namespace) -> int:
    builder = args.builder or _default_builder()
    settings = _build.BuildSettings(
        version=args.version or _build.project_version(),
        registry=args.registry,
        lock_path=args.lock,
        force=args.force,
        keep_going=args.keep_going,
        verbose=args.verbose,
        debian=_debian.Source(args.debian_snapshot),
        revision=_build.git_revision(_plan.REPO),
    )
    builds = _plan.plan(
        settings.version,
        registry=settings.registry,
        tasks=args.task,
        revision=settings.revision or "unknown",
        builder=builder,
    )
    builds = _plan.select(builds, _names(args.only))
    if builder == "docker":
        return _docker(builds, dry_run=args.dry_run, push=args.push)
    if args.push:
        print(
            "error: --push is docker's; with buildah: python -m kubegym.images push",
            file=sys.stderr,
        )
        return 2
    if args.dry_run:
        for line in _build.describe(builds, settings):
            print(line)
        return 0
    _build.ensure([b.name for b in builds], settings)
    return 0


def _default_builder() -> _plan.Builder:
    """docker when a docker daemon answers, else buildah (a docker client alone is not enough)."""
    if shutil.which("docker") is None:
        return "buildah"
    try:
        answer = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return "buildah"
    return "docker" if answer.returncode == 0 else "buildah"


def _docker(builds: Sequence[_plan.Build], *, dry_run: bool, push: bool) -> int:
    """The docker path: ``docker build`` (and ``docker push``) each image in order."""
    if not dry_run and shutil.which("docker") is None:
        print("docker is not installed: try --builder buildah, or --dry-run", file=sys.stderr)
        return 1
    bundles = _plan.task_bundles() if any(b.data_of for b in builds) else {}
    for build in builds:
        commands = [build.docker_command()]
        if push:
            commands.append(["docker", "push", build.reference])
        if build.data_of is not None:
            assert build.context is not None
            print(f"# stage {build.data_of}'s data into {_plan.rel(build.context, _plan.REPO)}")
            if not dry_run:
                _stage.stage_data(bundles[build.data_of], build.context)
        for command in commands:
            print(shlex.join(command), flush=True)
            if not dry_run:
                subprocess.run(command, cwd=_plan.REPO, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
