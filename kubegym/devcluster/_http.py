"""A tiny JSON client for the development cluster's apiserver (standard library only).

`up` uses it to wait for readiness and register nodes, so the core package needs
no Kubernetes client; tests and the operator use the `kubernetes` package instead.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ApiClient:
    """The apiserver's URL, its CA and a bearer token."""

    server: str
    ca_cert: Path
    token: str

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON or text). Never raises on HTTP errors."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=context, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text
