"""The local sandbox's disk quota: the workspace can hold at most the task's ephemeral storage.

Owns how the limit is enforced and undone. As root, the workspace folder becomes the mount
point of a file system of exactly that size (a sparse ext4 image, loop-mounted ``nosuid,nodev``):
a write past it fails with ENOSPC inside, and the host's disk grows by at most the quota. On
release the files are copied back into the plain folder, so whoever reads the workspace
afterwards (the local runner's archive, the evaluator) sees an ordinary folder. Where nothing
can enforce (not root, no loop devices, no ``mkfs.ext4``), the quota is ``unenforced``: usage is
measured and reported, never silently ignored. /tmp is bubblewrap's size-limited tmpfs (see
`kubegym.sandbox.isolation`). Called by `kubegym.sandbox.isolation.prepare` and `Jail.cleanup`;
`kubegym.sandbox.local` turns `DiskQuota.exceeded` into a limit event for the agent.

A run killed outright (SIGKILL, a lost terminal) never releases its quotas: their images stay
mounted on the trials' workspaces. Each image's ``kubegym-disk-*`` folder holds an owner
record (the process that mounted it: pid and start time), and every sandbox start sweeps the
folders whose owner is dead (`sweep`): their files go back into plain folders, as `reclaim`
does for a trial that resumes, and the images are deleted; a live owner's are never touched.
Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Mechanism = Literal["loop-ext4", "unenforced"]
"""``loop-ext4``: a file system of the quota's size; ``unenforced``: measured only."""

FULL_MARGIN = 1 << 20
"""Less free space than this (1 MiB) counts as full: ext4 keeps a few blocks back."""

OWNER = "owner.json"
"""The owner record in an image's folder: ``{"pid", "start", "workspace"}``."""

_log = logging.getLogger(__name__)


@dataclass
class DiskQuota:
    """The quota on one workspace: how it is enforced and how to undo it."""

    workspace: Path
    limit_bytes: int
    mechanism: Mechanism
    image: Path | None = None
    """The loop image's file (``loop-ext4`` only), in a folder of its own."""
    notes: list[str] = field(default_factory=list)
    """Why the quota is not enforced, for logs and the trajectory."""
    _released: bool = False

    def usage(self) -> int:
        """Bytes the workspace holds now (blocks in use)."""
        if self.mechanism == "loop-ext4" and not self._released:
            st = os.statvfs(self.workspace)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        return _du(self.workspace)

    def exceeded(self) -> bool:
        """Whether the workspace is full (``loop-ext4``) or over its limit (``unenforced``)."""
        if self.mechanism == "loop-ext4" and not self._released:
            st = os.statvfs(self.workspace)
            return st.f_bavail * st.f_frsize < FULL_MARGIN
        return self.usage() > self.limit_bytes

    def describe(self) -> dict[str, Any]:
        """What enforces the quota, for logs and the trajectory."""
        return {"value": self.limit_bytes, "mechanism": self.mechanism, "notes": list(self.notes)}

    def release(self) -> None:
        """Copy the files back into a plain folder and remove the file system (idempotent).

        Call it only once nothing runs inside: a busy mount is detached lazily.
        """
        if self._released or self.mechanism != "loop-ext4":
            self._released = True
            return
        self._released = True
        back = Path(tempfile.mkdtemp(prefix=f".{self.workspace.name}-", dir=self.workspace.parent))
        try:
            try:
                shutil.copytree(
                    self.workspace, back, symlinks=True, dirs_exist_ok=True, ignore=_special_files
                )
            except shutil.Error as error:
                # What could not be copied is lost with the image; everything else is kept.
                # The agent controls these files: a failure here must not end the trial.
                lost = [str(source) for source, _target, _why in error.args[0]]
                self.notes.append(f"disk: {len(lost)} file(s) could not be copied back: {lost[:5]}")
                _log.warning(
                    "sandbox_disk_copy_back_incomplete workspace=%s lost=%s",
                    self.workspace,
                    lost[:20],
                )
            shutil.copystat(self.workspace, back)
            with contextlib.suppress(OSError):
                st = self.workspace.stat()
                os.chown(back, st.st_uid, st.st_gid)
        finally:
            _unmount(self.workspace)
            if self.image is not None:
                shutil.rmtree(self.image.parent, ignore_errors=True)
        self.workspace.rmdir()  # the empty mount point
        back.rename(self.workspace)


def apply(
    workspace: Path, limit_bytes: int | None, *, owner: tuple[int, int] | None, name: str
) -> DiskQuota | None:
    """Put ``workspace`` under a quota of ``limit_bytes`` (None: no quota, returns None).

    Args:
        workspace: an existing folder; its files are kept.
        limit_bytes: the most it may hold.
        owner: the host ``(uid, gid)`` that owns the new file system's root (the jail's).
        name: the sandbox's name, for logs.

    Returns:
        The quota; `DiskQuota.release` undoes it.
    """
    if limit_bytes is None:
        return None
    if os.geteuid() == 0:  # only root mounts: nobody else can have left one behind
        sweep()
    reclaim(workspace)
    notes: list[str] = []
    if os.geteuid() != 0:
        notes.append("disk: only root can mount a file system of the quota's size")
    elif shutil.which("mkfs.ext4") is None:
        notes.append("disk: mkfs.ext4 is missing (apt-get install e2fsprogs)")
    else:
        try:
            return _loop(workspace, limit_bytes, owner, name)
        except (OSError, subprocess.SubprocessError) as error:
            notes.append(f"disk: cannot loop-mount a file system here: {error}")
    _log.warning("sandbox_disk_unenforced name=%s notes=%s", name, notes)
    return DiskQuota(workspace, limit_bytes, "unenforced", notes=notes)


def _loop(workspace: Path, limit: int, owner: tuple[int, int] | None, name: str) -> DiskQuota:
    folder = Path(tempfile.mkdtemp(prefix="kubegym-disk-"))
    image = folder / "workspace.ext4"
    aside: Path | None = None
    mounted = False
    try:
        _write_owner(folder, workspace)  # before anything can be left behind
        with open(image, "wb") as f:
            f.truncate(limit)  # sparse: the host's disk fills only as the agent writes
        uid, gid = owner or (os.getuid(), os.getgid())
        _run(
            ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E",
             f"nodiscard,lazy_itable_init=1,root_owner={uid}:{gid}", str(image)]
        )  # fmt: skip
        # The folder's files go aside, the file system takes the folder's place, they come back.
        aside = Path(tempfile.mkdtemp(prefix=f".{workspace.name}-", dir=workspace.parent))
        aside.rmdir()
        workspace.rename(aside)
        workspace.mkdir()
        shutil.copystat(aside, workspace)
        _run(["mount", "-o", "loop,nosuid,nodev", str(image), str(workspace)])
        mounted = True
        (workspace / "lost+found").rmdir()
        shutil.copytree(aside, workspace, symlinks=True, dirs_exist_ok=True)
        shutil.copystat(aside, workspace)
        shutil.rmtree(aside)
        aside = None
    except BaseException:
        if mounted:
            _unmount(workspace)
        if aside is not None:
            with contextlib.suppress(OSError):
                workspace.rmdir()
            aside.rename(workspace)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _log.info("sandbox_disk_quota name=%s bytes=%s mechanism=loop-ext4", name, limit)
    return DiskQuota(workspace, limit, "loop-ext4", image=image)


def reclaim(workspace: Path) -> bool:
    """Undo a quota that a killed run left mounted on ``workspace``: its files go back into a
    plain folder and the image is deleted. The local runner calls it before it reuses or
    deletes a trial's workspace (an interrupted attempt, a resumed run).

    Returns:
        Whether there was one.
    """
    stale = _stale_image(workspace)
    if stale is None:
        return False
    _log.warning("sandbox_disk_stale_mount workspace=%s image=%s", workspace, stale)
    DiskQuota(workspace, 0, "loop-ext4", image=stale).release()
    return True


def sweep(root: Path | None = None) -> list[Path]:
    """Release the quotas whose owner process has died (a run killed and never resumed).

    For each ``kubegym-disk-*`` folder in ``root`` whose owner record names a process that
    no longer runs (or whose pid now belongs to a process started later), the image's files
    are copied back into the plain folder it was mounted on, it is unmounted, and the folder
    is deleted. A folder without an owner record (being made right now, or an older
    kubegym's) is not judged: `reclaim` puts its workspace back when that trial resumes.
    Sweepers in other threads and processes take turns on each folder (a lock on its owner
    record). Never raises: a folder that cannot be released is logged and left.

    Args:
        root: where the folders are; the temporary folder (`tempfile.gettempdir`) by default.

    Returns:
        The folders released.
    """
    released: list[Path] = []
    try:
        folders = sorted(Path(root or tempfile.gettempdir()).glob("kubegym-disk-*"))
    except OSError:
        return released
    for folder in folders:
        try:
            st = folder.lstat()
            # /tmp is everyone's: only a real folder of our own (as mkdtemp made it) counts.
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                continue
            fd = os.open(folder / OWNER, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue  # no owner record: not ours to judge
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another sweeper is on it
            owner = _read_owner(fd)
            if owner is None or _alive(owner) or not folder.exists():
                continue
            _release_folder(folder, owner)
            released.append(folder)
        except OSError as error:
            _log.warning("sandbox_disk_sweep_failed folder=%s error=%s", folder, error)
        finally:
            os.close(fd)
    return released


def _release_folder(folder: Path, owner: dict[str, Any]) -> None:
    """Put back every workspace the folder's image is mounted on, then delete the folder."""
    image = folder / "workspace.ext4"
    for point, backing in _loop_mounts():
        if backing == image:
            _log.warning(
                "sandbox_disk_orphan workspace=%s image=%s dead_owner=%s",
                point,
                image,
                owner.get("pid"),
            )
            DiskQuota(point, 0, "loop-ext4", image=image).release()
    shutil.rmtree(folder, ignore_errors=True)


def _write_owner(folder: Path, workspace: Path) -> None:
    """Record this process as the owner of the quota in ``folder`` (atomically)."""
    me = os.getpid()
    record = {"pid": me, "start": _start_time(me), "workspace": str(workspace)}
    partial = folder / f".{OWNER}.tmp"
    partial.write_text(json.dumps(record), encoding="utf-8")
    partial.replace(folder / OWNER)


def _read_owner(fd: int) -> dict[str, Any] | None:
    """The owner record open at ``fd`` (None when it is not one)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return data


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the owner process still runs: its pid exists with the recorded start time
    (a pid reused by a later process is not the owner)."""
    started = _start_time(int(owner["pid"]))
    return started is not None and started == owner.get("start")


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), None when there is no such process."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) may hold spaces and parentheses: count after the last ")".
    fields = stat_line.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] == "Z":  # a zombie has exited: it owns nothing any more
        return None
    return int(fields[19])


def _loop_mounts() -> list[tuple[Path, Path]]:
    """(mount point, image) of every loop device mounted here."""
    found: list[tuple[Path, Path]] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) < 5 or len(rest) < 2 or not rest[1].startswith("/dev/loop"):
                continue
            backing = Path(f"/sys/block/{Path(rest[1]).name}/loop/backing_file")
            with contextlib.suppress(OSError):
                image = backing.read_text().strip()
                found.append((Path(_unescape(fields[4])), Path(image)))
    return found


def _unescape(field: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes are written as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def _stale_image(workspace: Path) -> Path | None:
    """The kubegym loop image mounted on ``workspace``, if one is (None otherwise)."""
    if not os.path.ismount(workspace):
        return None
    target = workspace.resolve()
    for point, image in _loop_mounts():
        if point == target and image.parent.name.startswith("kubegym-disk-"):
            return image
    return None


def _special_files(folder: str, names: list[str]) -> set[str]:
    """Names in ``folder`` that are neither regular files, folders nor links (FIFOs, sockets,
    devices): an agent's FIFO would block the copy, and none of them is a result."""
    skipped = set()
    for name in names:
        with contextlib.suppress(OSError):
            mode = os.lstat(os.path.join(folder, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                skipped.add(name)
    return skipped


def _unmount(point: Path) -> None:
    try:
        _run(["umount", str(point)])
    except OSError:
        _log.warning("sandbox_disk_busy mount=%s: detached lazily", point)
        _run(["umount", "-l", str(point)])


def _run(argv: list[str]) -> None:
    """Run a mount tool; an OSError that carries its message when it fails."""
    result = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        raise OSError(f"{' '.join(argv[:2])}… failed ({result.returncode}): {detail}")


def _du(root: Path) -> int:
    """Bytes in blocks under ``root`` (hard links counted once), like ``du -s``."""
    total, seen = 0, set()
    for folder, _dirs, files in os.walk(root):
        for entry in (folder, *(os.path.join(folder, n) for n in files)):
            with contextlib.suppress(OSError):
                st = os.lstat(entry)
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total
