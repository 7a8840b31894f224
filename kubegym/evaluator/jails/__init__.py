"""The jails an evaluation runs agent code in: the trusted side of ``kubegym_eval.start``.

An evaluation script asks, over the socket it holds as ``KUBEGYM_JAIL_FD``, for a jail
that serves the task's adapter over the scored submission; it gets the jail's stdin,
stdout and stderr. A jail never sees the evaluation script, the hidden data, the
metrics pipe or any token.

- `launcher`: `JailLauncher`, the scorer's side, one per evaluation; kills every jail
  whole when the evaluation ends.
- `spawn`: one jail, started through `kubegym.sandbox.isolation`: bubblewrap (no
  network, an unprivileged uid, its own pid namespace and cgroup, a cleared environment,
  read-only Python) or, where bubblewrap cannot run (``backend="process"``), a separate
  process with its own session, rlimits or a cgroup, a scrubbed environment and a scratch
  cwd, but the evaluator's uid and file system view (`Jail.describe` says which).
- `remote` and `server`: on a cluster the jails are another container's (`Remote`): the
  sandbox pod's ``jail`` container runs `JailServer` (``python -m kubegym.evaluator
  jail-serve``) as another non-root uid, with `syscalls`' seccomp filters, and `reaper`
  kills whatever agent code leaves behind.
- `spec` and `files`: the shapes shared by all of them, and the task files a jail may see.

Called by `kubegym.evaluator.scorer` (the launcher) and `kubegym.evaluator.__main__`
(the server).
"""

from kubegym.evaluator.jails.launcher import JailLauncher
from kubegym.evaluator.jails.reaper import kill_descendants
from kubegym.evaluator.jails.remote import REMOTE_TIMEOUT
from kubegym.evaluator.jails.server import JailServer
from kubegym.evaluator.jails.spec import KIT_DIR, JailLimits, JailMode, LocalMode, Remote
from kubegym.evaluator.jails.syscalls import filter_boot, network_filter

__all__ = [
    "KIT_DIR",
    "REMOTE_TIMEOUT",
    "JailLauncher",
    "JailLimits",
    "JailMode",
    "JailServer",
    "LocalMode",
    "Remote",
    "filter_boot",
    "kill_descendants",
    "network_filter",
]
