"""The sandbox: the command server inside every trial's pod or jail, and its client.

`kubegym.sandbox.server` (started by ``python -m kubegym.sandbox serve``) runs one persistent
bash session and serves files over HTTP (``openapi.yaml``); `kubegym.sandbox.client` is what
the agent runner, the evaluator and the local backend use. Standard library only: this package
is installed into task images with ``pip install --no-deps``.
"""

from kubegym.sandbox.protocol import CommandResult, FileEntry, Sandbox

__all__ = ["CommandResult", "FileEntry", "Sandbox"]
