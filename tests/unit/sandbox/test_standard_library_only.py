"""The sandbox package imports nothing outside the standard library (task images lack it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

THIRD_PARTY = {"pydantic", "yaml", "structlog", "pandas", "numpy", "click", "boto3", "kopf"}


def test_server_and_client_import_only_the_standard_library(repo: Path) -> None:
    code = (
        "import kubegym.sandbox.server, kubegym.sandbox.client, kubegym.sandbox.__main__, sys;"
        "import kubegym.sandbox.relay, kubegym.sandbox.tokens;"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    ).stdout
    top_level = {name.split(".")[0] for name in out.split()}
    assert not top_level & THIRD_PARTY
    outside = {
        name
        for name in top_level
        if name not in sys.stdlib_module_names and name != "kubegym" and not name.startswith("_")
    }
    assert outside == set()
