"""Settings every `kubegym` command shares.

Each command declares them itself: click caches a command's help option the
first time it builds one, so a command relying on its parent's settings would
show `-h` or not depending on how it was first invoked.
"""

from __future__ import annotations

from typing import Any

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
