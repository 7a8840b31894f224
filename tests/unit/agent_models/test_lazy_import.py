"""Importing the model client costs nothing: litellm loads on the first call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_importing_the_client_does_not_import_litellm(repo: Path) -> None:
    code = (
        "import sys\n"
        "from kubegym.agent_runner import costs, models\n"
        "print('litellm' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
