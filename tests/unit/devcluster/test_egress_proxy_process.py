"""``kubegym dev-cluster up --with-egress-proxy``'s proxy, as a real process: the operator
settings it prints lead the operator's records client and a sandbox's credentials to it,
its key stays private, and `stop` ends exactly it."""

from __future__ import annotations

import base64
import http.client
import os
import stat
from pathlib import Path

from kubegym.devcluster import egress as dev_egress
from kubegym.devcluster import processes
from kubegym.egress import credentials
from kubegym.operator import egress
from kubegym.operator.settings import Settings


def test_the_proxy_the_dev_cluster_starts_serves_the_operator_it_describes(
    tmp_path: Path,
) -> None:
    state = tmp_path / "egress"
    server = dev_egress.start(state, timeout=60)
    try:
        assert stat.S_IMODE(os.stat(server.key_file).st_mode) == 0o600
        proxy = Settings.from_env(server.operator_env()).egress
        assert proxy is not None and f"{proxy.host}:{proxy.port}" == server.proxy
        assert dev_egress.running(state) == server

        # A sandbox's credentials, minted as the operator mints them, are the proxy's.
        user, password = credentials.mint(
            proxy.key, credentials.Grant("dev", "trial-a", 0, ("pypi.org",), 2**40)
        )
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
        connection.request(
            "GET", "http://example.org/", headers={"Proxy-Authorization": f"Basic {token}"}
        )
        response = connection.getresponse()
        assert response.status == 403 and b"not on this trial's egress allowlist" in response.read()
        taken = egress.Records(proxy).read("dev", "trial-a", 0)
        assert [(r.host, r.reason) for r in taken.records] == [("example.org", "not_listed")]
    finally:
        assert dev_egress.stop(state)
    assert dev_egress.NAME not in processes.recorded(state)
    assert dev_egress.running(state) is None
    assert not dev_egress.stop(state)
