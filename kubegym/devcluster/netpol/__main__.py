"""``python -m kubegym.devcluster.netpol``: the real node's NetworkPolicy controller
(`kubegym.devcluster.netpol.controller.main`), as `kubegym.devcluster.realnode` starts it."""

from __future__ import annotations

import sys

from kubegym.devcluster.netpol import controller

if __name__ == "__main__":
    sys.exit(controller.main())
