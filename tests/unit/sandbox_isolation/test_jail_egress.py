"""A jail with an egress allowlist, for real: bubblewrap, the relay inside, the trial's proxy
on the host, real servers behind it. What is listed is reached through the proxy variables;
every way around the proxy or the list is tried from inside and fails, and is recorded."""

from __future__ import annotations

import ipaddress
import json
import shlex
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubegym import egress
from kubegym.egress import addresses, records
from kubegym.sandbox import local
from tests.support import egress_servers
from tests.support.egress_servers import Server


@dataclass
class Trial:
    sandbox: local.LocalSandbox
    proxy: egress.LocalEgress
    log: Path
    http: Server
    https: Server
    workspace: Path

    def sh(self, command: str, timeout: float = 60) -> tuple[int | None, str]:
        result = self.sandbox.client.exec(command, timeout=timeout)
        return result.exit_code, result.output

    def records(self) -> list[records.EgressRecord]:
        self.proxy.close()
        return records.read(self.log)


def open_trial(
    tmp_path: Path,
    hosts: list[str],
    ports: frozenset[int],
    trusted: tuple[addresses.Network, ...] = (),
) -> tuple[local.LocalSandbox, egress.LocalEgress, Path]:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    log = tmp_path / "egress.jsonl"
    proxy = egress.LocalEgress(
        "egress-trial",
        egress.Allowlist.union(hosts),
        log,
        egress.ProxySettings(
            test_ports=ports, head_timeout=5, hello_timeout=5, trusted_networks=trusted
        ),
    )
    route = local.EgressRoute(proxy.folder, proxy.socket.name, proxy.allowlist.patterns)
    try:
        sandbox = local.open_sandbox(
            local.SandboxRequest(name="egress-trial", workspace=workspace, egress=route)
        )
    except BaseException:
        proxy.close()
        raise
    return sandbox, proxy, log


@pytest.fixture(scope="module")
def trial(bwrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trial]:
    """One jail for the module (starting one costs seconds): allowed `localhost`, `pypi.org`."""
    del bwrap
    tmp = tmp_path_factory.mktemp("egress")
    cert, key = egress_servers.localhost_certificate(tmp)
    with egress_servers.echo_http() as http, egress_servers.echo_http((cert, key)) as https:
        ports = frozenset({http.port, https.port})
        sandbox, proxy, log = open_trial(tmp, ["localhost", "pypi.org"], ports)
        workspace = tmp / "workspace"
        (workspace / "localhost.pem").write_bytes(cert.read_bytes())
        try:
            yield Trial(sandbox, proxy, log, http, https, workspace)
        finally:
            sandbox.close()
            proxy.close()


def test_the_proxy_variables_point_at_the_relay(trial: Trial) -> None:
    code, out = trial.sh("echo $HTTP_PROXY $https_proxy $NO_PROXY; ls -ld /run/kubegym-egress")
    assert code == 0
    first = out.splitlines()[0]
    assert first == "http://127.0.0.1:3128 http://127.0.0.1:3128 127.0.0.1,::1"
    assert trial.sandbox.describe()["egress"]["hosts"] == ["localhost", "pypi.org"]


def test_a_listed_host_is_reached_with_curl_and_urllib(trial: Trial) -> None:
    url = f"http://localhost:{trial.http.port}"
    code, out = trial.sh(f"curl -sS --max-time 20 {url}/from-curl")
    assert code == 0, out
    assert json.loads(out)["path"] == "/from-curl"
    code, out = trial.sh(
        "python3 -c "
        + shlex.quote(
            f"import urllib.request; print(urllib.request.urlopen('{url}/urllib').read().decode())"
        )
    )
    assert code == 0, out
    assert json.loads(out)["path"] == "/urllib"
    paths = [r["path"] for r in trial.http.seen.requests]
    assert "/from-curl" in paths and "/urllib" in paths


def test_https_goes_through_a_tunnel_the_client_verifies(trial: Trial) -> None:
    url = f"https://localhost:{trial.https.port}/tls"
    code, out = trial.sh(f"curl -sS --max-time 20 --cacert /workspace/localhost.pem {url}")
    assert code == 0, out
    assert json.loads(out)["path"] == "/tls"


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("curl -sS --max-time 20 http://example.com/", "not on this trial's egress allowlist"),
        (
            "curl -sS --max-time 20 --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.1:{port}/",
            "IP address",
        ),
        ("curl -sS --max-time 20 http://localhost:22/", "port 22 is refused"),
        ("curl -sS --max-time 20 -H 'Host: example.com' http://localhost:{port}/", "Host header"),
    ],
)
def test_refused_from_inside_with_the_reason(trial: Trial, command: str, says: str) -> None:
    before = len(trial.http.seen.requests)
    _, out = trial.sh(command.format(port=trial.http.port))
    assert "kubegym egress proxy: refused" in out and says in out
    assert len(trial.http.seen.requests) == before


def test_a_https_tunnel_to_an_unlisted_host_fails(trial: Trial) -> None:
    code, out = trial.sh("curl -sS --max-time 20 https://example.com/")
    assert code != 0 and "403" in out


def test_no_way_around_the_proxy(trial: Trial) -> None:
    """Direct connections: the jail has loopback only, the host's servers are not on it."""
    probe = (
        "import socket\n"
        "for host, port in [('1.1.1.1', 443), ('8.8.8.8', 53), ('127.0.0.1', {port})]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3)\n"
        "        print('REACHED', host)\n"
        "    except OSError as error:\n"
        "        print('failed', host, error.errno)\n"
        "try:\n"
        "    socket.getaddrinfo('pypi.org', 443)\n"
        "    print('RESOLVED')\n"
        "except OSError:\n"
        "    print('no dns')\n"
    ).replace("{port}", str(trial.http.port))
    code, out = trial.sh("python3 -c " + shlex.quote(probe))
    assert code == 0, out
    assert "REACHED" not in out and "RESOLVED" not in out
    code, out = trial.sh(f"curl -sS --noproxy '*' --max-time 5 http://localhost:{trial.http.port}/")
    assert code != 0


def test_the_proxy_socket_itself_enforces_the_same_list(trial: Trial) -> None:
    """Skipping the relay (speaking to the bound socket directly) meets the same proxy."""
    talk = (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.connect('/run/kubegym-egress/proxy.sock')\n"
        "s.sendall(b'CONNECT example.com:443 HTTP/1.1\\r\\nProxy-Authorization: Basic x\\r\\n\\r\\n')\n"
        "print(s.recv(4096).decode())\n"
    )
    code, out = trial.sh("python3 -c " + shlex.quote(talk))
    assert code == 0 and "403" in out and "example.com" in out
    code, out = trial.sh(
        "touch /run/kubegym-egress/x 2>&1; rm -f /run/kubegym-egress/proxy.sock 2>&1"
    )
    assert "Read-only file system" in out


def test_everything_is_recorded_both_ways(bwrap: str, tmp_path: Path) -> None:
    del bwrap
    with egress_servers.echo_http() as http:
        sandbox, proxy, log = open_trial(tmp_path, ["localhost"], frozenset({http.port}))
        try:
            sandbox.client.exec(
                f"curl -sS http://localhost:{http.port}/ok; curl -sS http://example.org/"
            )
        finally:
            sandbox.close()
            proxy.close()
    got = [(r.trial, r.host, r.allowed, r.reason) for r in records.read(log)]
    assert got == [
        ("egress-trial", "localhost", True, "allowed"),
        ("egress-trial", "example.org", False, "not_listed"),
    ]
    assert records.read(log)[0].bytes_down > 0


def test_without_an_allowlist_nothing_changes(bwrap: str, tmp_path: Path) -> None:
    del bwrap
    workspace = tmp_path / "w"
    workspace.mkdir()
    sandbox = local.open_sandbox(local.SandboxRequest(name="plain", workspace=workspace))
    try:
        out = sandbox.client.exec("env | grep -ci proxy; ls /run/kubegym-egress 2>&1").output
        assert out.splitlines()[0] == "0" and "No such file" in out
        assert sandbox.describe()["egress_proxy"] is None and "egress" not in sandbox.describe()
    finally:
        sandbox.close()


def _pypi_addresses() -> list[str] | None:
    """PyPI's addresses as this machine resolves them; None when it cannot reach them."""
    try:
        found = {
            info[4][0]
            for name in ("pypi.org", "files.pythonhosted.org")
            for info in socket.getaddrinfo(name, 443)
        }
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return None
    return sorted(str(a) for a in found)


def test_pip_installs_from_pypi_through_the_proxy(bwrap: str, tmp_path: Path) -> None:
    del bwrap
    found = _pypi_addresses()
    if found is None:
        pytest.skip("PyPI is unreachable from this machine")
    # Where this machine's DNS answers with a gateway's non-public address (a sandboxed
    # build host), the proxy must be told to trust it, as its operator would.
    trusted = tuple(ipaddress.ip_network(a) for a in found if not ipaddress.ip_address(a).is_global)
    hosts = ["pypi.org", "files.pythonhosted.org"]
    sandbox, proxy, log = open_trial(tmp_path, hosts, frozenset(), trusted)
    try:
        result = sandbox.client.exec(
            "python3 -m pip install --no-cache-dir --disable-pip-version-check --target "
            "/workspace/site six==1.16.0 && ls /workspace/site",
            timeout=180,
        )
    finally:
        sandbox.close()
        proxy.close()
    assert result.exit_code == 0, result.output
    assert "six.py" in result.output
    reached = {r.host for r in records.read(log) if r.allowed}
    assert reached == {"pypi.org", "files.pythonhosted.org"}
