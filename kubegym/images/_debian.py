"""The base images made from Debian packages, for machines that can pull no image.

``python-base`` stands in for ``python:3.11.7-slim-bookworm`` (the Dockerfiles'
``PYTHON_IMAGE``): Debian bookworm's Python 3.11 from ``mmdebstrap --variant=minbase``
with ``python``, ``python -m venv``, ``python -m pip`` (pip and setuptools installed
from Debian's own wheels into /usr/local, as the official image has them), apt-get
and useradd. ``data-base`` stands in for ``busybox`` (the data images'
``DATA_IMAGE``): Debian's static busybox and its applets' links, nothing else.
`kubegym.images._build` imports each tree as one layer (`_buildah.commit_rootfs`).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from kubegym.images import _buildah, _plan, _tools

SUITE: Final = "bookworm"
MIRROR: Final = "http://deb.debian.org"
SNAPSHOTS: Final = "http://snapshot.debian.org/archive"
#: A bump rebuilds both bases even when nothing else changed.
RECIPE_VERSION: Final = 2
_LABELS: Final = {
    "org.opencontainers.image.source": "https://github.com/kubegym/kubegym",
    "org.opencontainers.image.licenses": "Apache-2.0",
}


@dataclass(frozen=True)
class Source:
    """Where the packages come from: Debian's mirror, or a dated snapshot of it."""

    snapshot: str | None = None
    """A snapshot.debian.org timestamp such as ``20250520T000000Z``: every rebuild then
    gets the same package versions."""

    def lines(self) -> list[str]:
        """The apt source lines: the suite, its updates and its security updates."""
        if self.snapshot:
            main = f"{SNAPSHOTS}/debian/{self.snapshot}"
            security = f"{SNAPSHOTS}/debian-security/{self.snapshot}"
        else:
            main, security = f"{MIRROR}/debian", f"{MIRROR}/debian-security"
        return [
            f"deb {main} {SUITE} main",
            f"deb {main} {SUITE}-updates main",
            f"deb {security} {SUITE}-security main",
        ]


@dataclass(frozen=True)
class Recipe:
    """One image's mmdebstrap run and what is done to the tree after it."""

    name: str
    variant: str
    packages: tuple[str, ...]
    config: _buildah.ImageConfig
    hooks: tuple[str, ...] = ()
    """mmdebstrap customize hooks (host shell, ``$1`` the tree); ``$KUBEGYM_DEBIAN_OUT``
    is a folder for what they report."""
    dpkg_options: tuple[str, ...] = ()

    def describe(self, source: Source) -> dict[str, object]:
        """Everything that decides the tree, for the image's input hash."""
        return {"recipe": RECIPE_VERSION, **asdict(self), "sources": source.lines()}


# Like Debian's slim images: no manuals, translations or documentation beyond the
# copyright files, now and for what apt-get installs later (dpkg keeps these options).
_SLIM: Final = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
# SOURCE_DATE_EPOCH makes pip write hash-checked .pyc files (as Debian's own are): the
# tree's mtimes are clamped to the epoch, which would void mtime-checked ones.
_PIP_FROM_DEBIAN_WHEELS: Final = (
    'chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SOURCE_DATE_EPOCH=0 sh -c '
    '\'set -- /usr/share/python-wheels/pip-*.whl && python3 "$1/pip" install --no-index '
    "--no-cache-dir --disable-pip-version-check --find-links /usr/share/python-wheels "
    "pip setuptools'"
)
_RELEASE_DATES: Final = (
    'for f in "$1"/var/lib/apt/lists/*_InRelease; do '
    'printf "%s\\t%s\\n" "${f##*/}" "$(sed -n "s/^Date: //p" "$f")"; '
    'done > "$KUBEGYM_DEBIAN_OUT/releases.tsv"'
)

PYTHON: Final = Recipe(
    _plan.PYTHON_BASE,
    "minbase",
    ("python3", "python3-venv", "python-is-python3", "ca-certificates", "passwd", "netbase"),
    _buildah.ImageConfig(
        env={
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
        },
        cmd=("python3",),
        labels={
            **_LABELS,
            "org.opencontainers.image.title": "kubegym python base (Debian bookworm)",
            "org.opencontainers.image.description": "Debian bookworm's Python 3.11 with pip, "
            "venv and apt-get: kubegym's stand-in for python:3.11-slim-bookworm",
        },
    ),
    hooks=(
        # The official image's pip installs system-wide; so may this one's.
        'rm -f "$1"/usr/lib/python3.11/EXTERNALLY-MANAGED',
        # Debian disables ensurepip for its system Python: install pip and setuptools
        # from the wheels python3-venv brings, into /usr/local, with pip itself.
        _PIP_FROM_DEBIAN_WHEELS,
        _RELEASE_DATES,
    ),
    dpkg_options=_SLIM,
)

DATA: Final = Recipe(
    _plan.DATA_BASE,
    # extract: the package's files only, no dpkg database, no essential packages.
    "extract",
    ("busybox-static",),
    _buildah.ImageConfig(
        env={"PATH": "/bin"},
        cmd=("sh",),
        labels={
            **_LABELS,
            "org.opencontainers.image.title": "kubegym data base (Debian busybox-static)",
            "org.opencontainers.image.description": "sh, cp and the other busybox applets: "
            "kubegym's stand-in for busybox under the task data images",
        },
    ),
)
RECIPES: Final = {r.name: r for r in (PYTHON, DATA)}


@dataclass
class Report:
    """What a built tree holds, for the lock."""

    packages: dict[str, str] = field(default_factory=dict)
    """Debian package → version."""
    releases: dict[str, str] = field(default_factory=dict)
    """Each apt source's InRelease file → its ``Date:``: how fresh the mirror was."""


def mmdebstrap_command(recipe: Recipe, source: Source, out: Path) -> list[str]:
    """The mmdebstrap command line that writes ``recipe``'s tree as the tarball ``out``."""
    args = ["mmdebstrap", f"--variant={recipe.variant}", f"--include={','.join(recipe.packages)}"]
    args += [f"--dpkgopt={option}" for option in recipe.dpkg_options]
    if source.snapshot:
        args.append('--aptopt=Acquire::Check-Valid-Until "false"')
    args += [f"--customize-hook={hook}" for hook in recipe.hooks]
    return [*args, SUITE, str(out), *source.lines()]


def build_tree(recipe: Recipe, source: Source, work: Path, log: Path) -> tuple[Path, Report]:
    """Run mmdebstrap for ``recipe`` into ``work``; the tarball and its report so far.

    Raises:
        ImageError: mmdebstrap failed (the log says why).
    """
    work.mkdir(parents=True, exist_ok=True)
    tarball = work / f"{recipe.name}.tar"
    reports = work / f"{recipe.name}.out"
    reports.mkdir(exist_ok=True)
    env = _tools.clean_env(SOURCE_DATE_EPOCH="0", KUBEGYM_DEBIAN_OUT=str(reports))
    _tools.run(mmdebstrap_command(recipe, source, tarball), log=log, env=env, capture=False)
    report = Report()
    releases = reports / "releases.tsv"
    if releases.is_file():
        for line in releases.read_text().splitlines():
            name, _, date = line.partition("\t")
            report.releases[name] = date
    return tarball, report


def unpack(tarball: Path, root: Path, log: Path) -> None:
    """Extract the tree into ``root`` as it is (owners, modes, device nodes)."""
    _tools.run(["tar", "--numeric-owner", "-xpf", str(tarball), "-C", str(root)], log=log)


def installed(root: Path) -> dict[str, str]:
    """Package → version from the tree's dpkg database (empty for an extract tree)."""
    status = root / "var" / "lib" / "dpkg" / "status"
    found: dict[str, str] = {}
    if not status.is_file():
        return found
    for paragraph in status.read_text(errors="replace").split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", paragraph, re.MULTILINE))
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            found[fields["Package"]] = fields.get("Version", "")
    return dict(sorted(found.items()))


#: What busybox-static's package leaves beside the binary that the image has no use for.
_BUSYBOX_LEFTOVERS: Final = (
    "etc",
    "var",
    "usr/share/initramfs-tools",
    "usr/share/lintian",
    "usr/share/man",
    "usr/share/doc/busybox-static/examples",
)


def finish_busybox(root: Path) -> dict[str, str]:
    """Link every applet to ``/bin/busybox`` and drop the package's leftovers.

    Returns:
        ``{"busybox-static": <the version it reports>}`` for the lock.
    """
    busybox = root / "bin" / "busybox"
    listed = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    for applet in listed.stdout.split():
        link = root / "bin" / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("busybox")
    for relative in _BUSYBOX_LEFTOVERS:
        subprocess.run(["rm", "-rf", str(root / relative)], check=True)
    for changelog in (root / "usr/share/doc/busybox-static").glob("changelog*"):
        changelog.unlink()
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    banner = subprocess.run([str(busybox)], capture_output=True, text=True).stdout
    match = re.search(r"\(Debian ([^)]+)\)", banner)
    return {"busybox-static": match.group(1) if match else "unknown"}
