"""``python -m kubegym.agent_runner``: the agent pod's entry point (see `kubegym.agent_runner.pod`)."""

from __future__ import annotations

import sys

from kubegym.agent_runner import pod

if __name__ == "__main__":
    sys.exit(pod.main())
