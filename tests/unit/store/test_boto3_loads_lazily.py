"""boto3 loads only when an S3 store is built: the operator imports `kubegym.store` (for
`backends.for_spec(...).pod_access` and the rollups) and must not carry boto3's memory.

Each check runs in a fresh interpreter, since this test process has long loaded boto3.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BOTO = ("boto3", "botocore", "s3transfer")


def run_python(repo: Path, code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object, returned here."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    ).stdout
    found: dict[str, object] = json.loads(out)
    return found


def test_the_store_and_the_operator_import_without_boto3(repo: Path) -> None:
    code = (
        "import json, sys\n"
        "import kubegym.store, kubegym.store.s3, kubegym.store.backends\n"
        "import kubegym.operator.controller\n"
        "from kubegym.store import S3Store, Credentials, S3Location, TransferSettings\n"
        f"print(json.dumps({{name: name in sys.modules for name in {BOTO!r}}}))\n"
    )
    assert run_python(repo, code) == dict.fromkeys(BOTO, False)


def test_the_operator_learns_an_s3_stores_pod_access_without_boto3(repo: Path) -> None:
    code = (
        "import json, sys\n"
        "from kubegym.api import runs\n"
        "from kubegym.store import backends\n"
        "spec = runs.Store(s3=runs.S3Store(\n"
        "    bucket='bkt', endpoint='http://minio.store:9000', credentials_secret='c'))\n"
        "access = backends.for_spec(spec).pod_access(spec)\n"
        "print(json.dumps({'env': [[e.name, e.secret, e.key] for e in access.env],\n"
        "    'ports': list(access.ports), 'boto3': 'boto3' in sys.modules}))\n"
    )
    assert run_python(repo, code) == {
        "env": [
            ["AWS_ACCESS_KEY_ID", "c", "AWS_ACCESS_KEY_ID"],
            ["AWS_SECRET_ACCESS_KEY", "c", "AWS_SECRET_ACCESS_KEY"],
        ],
        "ports": [9000],
        "boto3": False,
    }


def test_building_an_s3_store_loads_boto3(repo: Path) -> None:
    # The other side of the deferral: the store still gets its client (no request is made).
    code = (
        "import json, sys\n"
        "from kubegym.store import Credentials, S3Location, S3Store\n"
        "keys = {'AWS_ACCESS_KEY_ID': 'id', 'AWS_SECRET_ACCESS_KEY': 'secret'}\n"
        "store = S3Store(S3Location('bkt', endpoint='http://127.0.0.1:9'),\n"
        "    credentials=Credentials(values=keys))\n"
        "print(json.dumps({'uri': store.uri, 'boto3': 'boto3' in sys.modules}))\n"
    )
    assert run_python(repo, code) == {"uri": "s3://bkt", "boto3": True}


def test_an_install_without_boto3_gets_an_error_that_names_it(repo: Path) -> None:
    # boto3 is imported as a store is built, not as kubegym.store is: the error must still
    # say what is missing, not surface as a bare ModuleNotFoundError from deep inside.
    code = (
        "import json, sys\n"
        "sys.modules['boto3'] = None  # what an import of a missing package meets\n"
        "from kubegym.errors import ConfigError\n"
        "from kubegym.store import S3Location, S3Store\n"
        "try:\n"
        "    S3Store(S3Location('bkt', endpoint='http://127.0.0.1:9'))\n"
        "except ConfigError as exc:\n"
        "    print(json.dumps({'error': str(exc)}))\n"
    )
    error = str(run_python(repo, code)["error"])
    assert "S3 stores need boto3" in error and "pip install boto3" in error
