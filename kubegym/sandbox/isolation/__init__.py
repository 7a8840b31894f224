"""The local sandbox's jail: an `IsolationSpec` turned into a bubblewrap command line.

Owns what a sandboxed process can see and do on one machine: the workspace as its only
writable place, read-only datasets and Python, no network unless asked, a non-root uid, a
cleared environment, and memory/CPU/pids limits (through `kubegym.sandbox.limits`), a
seccomp filter (`kubegym.sandbox.seccomp`) and a disk quota (`kubegym.sandbox.quota`).
When kubegym runs as root, the jail never runs as the host's root: bubblewrap starts as an
unprivileged host uid (`HOST_ID`), so the sandbox's uid maps to it.

- `specs`: `IsolationSpec` and the jail's fixed paths and ids;
- `probe`: whether bubblewrap works here (`check_available`);
- `binds`: which host folders the jail sees, checked against the forbidden ones;
- `bwrap`: the bubblewrap command line, its generated /etc and environment;
- `launch`: what the jail's child does as root before it becomes bubblewrap;
- `jail`: `prepare` and the `Jail` it returns.

The local sandbox backend calls `prepare` and starts the sandbox server with `Jail.wrap`;
the evaluator's jails for agent code (`kubegym.evaluator.jails`) do the same.
``backend="process"`` is the unsafe opt-out. Standard library only: this package ships
into task images without dependencies.
"""

from kubegym.sandbox.isolation.jail import Jail, prepare
from kubegym.sandbox.isolation.probe import check_available
from kubegym.sandbox.isolation.specs import (
    EGRESS_DIR,
    HOST_ID,
    KUBEGYM_ROOT,
    RUNTIME,
    USER,
    WORKSPACE,
    Backend,
    IsolationSpec,
    IsolationWarning,
    Network,
)

__all__ = [
    "EGRESS_DIR",
    "HOST_ID",
    "KUBEGYM_ROOT",
    "RUNTIME",
    "USER",
    "WORKSPACE",
    "Backend",
    "IsolationSpec",
    "IsolationWarning",
    "Jail",
    "Network",
    "check_available",
    "prepare",
]
