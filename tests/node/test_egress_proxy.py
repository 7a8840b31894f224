"""The egress allowlist on a real node: the chart's shared proxy, a trial's sandbox in a
real container behind its enforced NetworkPolicy, the trial's status and results.

kubegym is installed by its chart with ``egressProxy.enabled`` (the proxy trusts the
cluster's Service network, so an in-cluster server can stand for an allowed host). One
run of a scripted model agent on polyfit whose task allows one in-cluster server by its
DNS name. The agent's commands, run in the sandbox container: a request to the allowed
name through the proxy (it gets the page; the same credentials from another address are
then refused), to another in-cluster name (403), straight to
the allowed server's Service address, its pod, the proxy's records port and DNS (all
blocked by the sandbox's NetworkPolicy), and through the proxy with forged credentials (a
wider allowlist under the trial's own signature), another trial's name with its password,
and none (all 407). The finished Trial's status, and the TrialResult built from it, list
every request the trial made; once it ends, its credentials are refused.

Needs a machine that can run the real node (root, cgroups, Debian's container packages)
and build the node images; skips, saying why, elsewhere.
"""

from __future__ import annotations

import base64
import http.client
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from kubegym import images
from kubegym.api import tasks as tasks_api
from kubegym.api import trials as trials_api
from kubegym.devcluster import realnode
from kubegym.operator import objects
from kubegym.operator import results as operator_results
from kubegym.operator import trials as trial_logic
from tests.node import stack
from tests.node.conftest import NodeCluster
from tests.node.pods import python_pod
from tests.node.test_trials import model_server, reach
from tests.support.kube import wait_for
from tests.support.openai_server import FakeOpenAI


def _cannot_run() -> str | None:
    if os.environ.get("KUBEGYM_SKIP_NODE_TESTS"):
        return "KUBEGYM_SKIP_NODE_TESTS is set"
    problem = realnode.probe() or images.cannot_build()
    return f"this machine cannot run a real node: {problem}" if problem else None


_SKIP = _cannot_run()
# With the other real-node tests, so they share tests/node/conftest.py's one node: a host
# runs one real node at a time, so a second session fixture of its own could never start.
pytestmark = [pytest.mark.node, pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))]
__all__ = ["model_server"]  # a fixture, by name

#: The dev cluster's Service network (kubegym.devcluster.controlplane).
SERVICE_CIDR = "10.0.0.0/24"
SERVER_PORT = 8080
PAGE = "hello-through-the-egress-proxy"


@pytest.fixture(scope="module")
def release(node_cluster: NodeCluster, node_api: Any) -> Iterator[dict[str, Any]]:
    """kubegym by its chart with the egress proxy on; the proxy pod Ready."""
    from kubernetes import client

    reference = node_cluster.images["kubegym"]
    repository, _, digest = reference.partition("@")
    stack.helm(
        node_cluster,
        "upgrade", "--install", stack.RELEASE, str(stack.REPO / "helm" / "kubegym"),
        "--namespace", stack.RELEASE_NAMESPACE, "--create-namespace", "--wait",
        "--timeout", "240s",
        "--set", f"image.repository={repository}", "--set", f"image.digest={digest}",
        "--set", "operator.logFormat=console",
        "--set", "egressProxy.enabled=true",
        "--set", f"egressProxy.trustedNetworks={{{SERVICE_CIDR}}}",
        "--set", f"egressProxy.egressPorts={{80,443,{SERVER_PORT}}}",
        "--set", "egressProxy.resources.requests.cpu=50m",
    )  # fmt: skip
    core: Any = client.CoreV1Api(node_api)

    def ready(component: str) -> Any:
        pods = core.list_namespaced_pod(
            stack.RELEASE_NAMESPACE, label_selector=f"app.kubernetes.io/component={component}"
        ).items
        return next(
            (
                p
                for p in pods
                if p.status.phase == "Running"
                and all(c.ready for c in p.status.container_statuses or [])
            ),
            None,
        )

    wait_for(lambda: ready("egress-proxy"), 180)
    operator = wait_for(lambda: ready("operator"), 180)
    yield dict(node_api.sanitize_for_serialization(operator))
    stack.helm(node_cluster, "uninstall", stack.RELEASE, "--namespace", stack.RELEASE_NAMESPACE)


def web_server(api: Any, namespace: str, name: str, image: str) -> str:
    """A pod serving ``/page.txt`` on SERVER_PORT behind Service ``name`` on port 80; its
    Service's cluster IP."""
    from kubernetes import client

    core: Any = client.CoreV1Api(api)
    code = (
        "import http.server, os\n"
        f"open('/tmp/page.txt', 'w').write({PAGE!r})\n"
        "os.chdir('/tmp')\n"
        f"http.server.ThreadingHTTPServer(('', {SERVER_PORT}), "
        "http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    core.create_namespaced_pod(
        namespace,
        python_pod(
            name,
            image,
            code,
            ports=[{"containerPort": SERVER_PORT}],
            readinessProbe={"tcpSocket": {"port": SERVER_PORT}, "periodSeconds": 1},
            # Small: the node's 2 CPUs also hold the trial's two pods and kubegym's.
            resources={
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"},
            },
        ),
    )
    core.create_namespaced_service(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "selector": {"app": name},
                "ports": [{"port": 80, "targetPort": SERVER_PORT}],
            },
        },
    )

    def serving() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        return (
            pod
            if pod.status.pod_ip and all(c.ready for c in pod.status.container_statuses or [])
            else None
        )

    pod = wait_for(serving, 120)
    service = core.read_namespaced_service(name, namespace)
    return f"{service.spec.cluster_ip} {pod.status.pod_ip}"


def script(code: str) -> str:
    return f"python - <<'EOF'\n{code}EOF"


def fetch(url: str, label: str) -> str:
    """A command fetching ``url`` through the proxy of the sandbox's environment."""
    return script(
        "import urllib.error, urllib.request\n"
        "try:\n"
        f"    body = urllib.request.urlopen({url!r}, timeout=20).read().decode()\n"
        f"    print({label!r} + ':200:' + body)\n"
        "except urllib.error.HTTPError as exc:\n"
        f"    print({label!r} + ':' + str(exc.code) + ':' + exc.read().decode()[:300])\n"
        "except OSError as exc:\n"
        f"    print({label!r} + ':error:' + str(exc))\n"
    )


def forged(allowed: str) -> str:
    """Requests through the proxy with credentials other than the sandbox's own: its
    signature over a wider allowlist, another trial's name with its password, none."""
    return script(
        "import base64, json, os, urllib.parse, http.client\n"
        "proxy = urllib.parse.urlsplit(os.environ['HTTP_PROXY'])\n"
        "user = urllib.parse.unquote(proxy.username)\n"
        "password = urllib.parse.unquote(proxy.password)\n"
        "payload, _, signature = password.partition('.')\n"
        "body = json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))\n"
        "body['hosts'] = body['hosts'] + ['*.local']\n"
        "raw = json.dumps(body, separators=(',', ':'), sort_keys=True).encode()\n"
        "wider = base64.urlsafe_b64encode(raw).rstrip(b'=').decode() + '.' + signature\n"
        "tries = {'widened': (user, wider), 'other-trial': ('someone-else', password),\n"
        "         'none': None}\n"
        "for name, creds in tries.items():\n"
        "    c = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=20)\n"
        "    headers = {}\n"
        "    if creds:\n"
        "        token = base64.b64encode(':'.join(creds).encode()).decode()\n"
        "        headers['Proxy-Authorization'] = 'Basic ' + token\n"
        f"    c.request('GET', 'http://{allowed}/page.txt', headers=headers)\n"
        "    print(name + ':' + str(c.getresponse().status))\n"
    )


def test_a_sandbox_reaches_its_allowed_host_through_the_proxy_and_nothing_else(
    node_cluster: NodeCluster,
    node_api: Any,
    node_namespace: str,
    release: dict[str, Any],
    model_server: FakeOpenAI,
) -> None:
    from kubernetes import client

    image = node_cluster.images["kubegym"]
    allowed_ip, allowed_pod = web_server(node_api, node_namespace, "allowed", image).split()
    web_server(node_api, node_namespace, "other", image)
    allowed = f"allowed.{node_namespace}.svc.cluster.local"
    other = f"other.{node_namespace}.svc.cluster.local"
    proxy_service: Any = client.CoreV1Api(node_api).read_namespaced_service(
        "kubegym-egress", stack.RELEASE_NAMESPACE
    )
    commands = [
        fetch(f"http://{allowed}/page.txt", "allowed"),
        "sleep 20",  # while the test tries the trial's credentials from elsewhere
        fetch(f"http://{other}/page.txt", "other"),
        reach(
            {
                "allowed-service": (allowed_ip, 80),
                "allowed-pod": (allowed_pod, SERVER_PORT),
                "proxy-records": (proxy_service.spec.cluster_ip, 3129),
            }
        ),
        forged(allowed),
        "python baseline.py",  # the starter writes a valid submission
        "submit",
    ]
    for command in commands:
        model_server.reply(stack.reply("Next step.", command))

    task = stack.polyfit_task(node_cluster)
    task["spec"]["egress"] = {"hosts": [allowed]}
    # The node has 2 CPUs: the sandbox pod, the agent pod, kubegym's two and the servers.
    task["spec"]["resources"] = {"cpu": "500m", "memory": "1Gi"}
    run = stack.model_run("egress", model_server.base_url, tasks=["polyfit"])
    run["spec"]["sandboxEgress"] = {"hosts": ["pypi.org"]}
    stack.apply(node_api, node_namespace, stack.key_secret(), task, run)
    trial_name = trials_api.trial_name("egress", "polyfit", "scripted", 0)
    proxy_url = attempt_proxy_url(node_api, node_namespace, trial_name)
    # Once the sandbox has used its credentials (its first command's output is back), they
    # are its own: from another address (the node's, standing for another trial's sandbox
    # that got hold of them) the proxy refuses them.
    wait_for(lambda: len(model_server.requests) >= 2, 300)
    stolen = through_proxy(proxy_url, f"http://{allowed}/page.txt")
    stack.wait_for_run(node_api, node_namespace, "egress", timeout=600)
    (trial,) = stack.trials_of(node_api, node_namespace, "egress")
    status = trial["status"]
    assert status.get("exitReason") == "submitted", (
        status,
        stack.describe(node_api, node_namespace),
    )

    shown = stack.observations(model_server.requests)
    got, _, refused, direct, borrowed = shown[:5]
    assert f"allowed:200:{PAGE}" in got, got
    assert stolen[0] == 403 and "belong to another sandbox" in stolen[1], stolen
    assert "other:403:" in refused and "not on this trial's egress allowlist" in refused, refused
    for target in ("allowed-service", "allowed-pod", "proxy-records", "dns"):
        assert f"{target}:blocked" in direct, direct
    for name in ("widened", "other-trial", "none"):
        assert f"{name}:407" in borrowed, borrowed

    # Every request the trial made, in its status and in its results.
    egress = status["egress"]
    assert egress["network"] == "allowlist" and egress["complete"] is True, egress
    assert egress["allowlist"] == sorted([allowed, "pypi.org"])
    rows = {h["host"]: h for h in egress["hosts"]}
    assert set(rows) == {allowed, other}, rows
    assert (rows[allowed]["allowed"], rows[allowed]["refused"]) == (1, 0)
    assert rows[allowed]["bytesDown"] > len(PAGE)
    assert (rows[other]["allowed"], rows[other]["refused"]) == (0, 1)
    view = trial_logic.TrialView.from_body(trial)
    result = operator_results.result_of(view, tasks_api.Task.model_validate(task))
    assert result.egress is not None
    assert [(h.host, h.allowed, h.refused) for h in result.egress.hosts] == [
        (allowed, 1, 0),
        (other, 0, 1),
    ]

    # Its credentials died with it: the proxy refuses them now (asked from the node, whose
    # own traffic no NetworkPolicy filters, at the proxy Service's address).
    status_code, text = through_proxy(proxy_url, f"http://{allowed}/page.txt")
    assert status_code == 407 and "closed" in text, (status_code, text)


def attempt_proxy_url(api: Any, namespace: str, trial: str) -> str:
    """The proxy URL in the attempt's Secret, read while the trial runs (it goes at the end)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core: Any = client.CoreV1Api(api)

    def read() -> str | None:
        try:
            secret = core.read_namespaced_secret(f"{trial}-a0", namespace)
        except ApiException:
            return None
        value = (secret.data or {}).get(objects.egress.PROXY_URL)
        return base64.b64decode(value).decode() if value else None

    url: str = wait_for(read, 120)
    return url


def through_proxy(proxy_url: str, url: str) -> tuple[int, str]:
    proxy = urllib.parse.urlsplit(proxy_url)
    user = urllib.parse.unquote(proxy.username or "")
    password = urllib.parse.unquote(proxy.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    connection = http.client.HTTPConnection(proxy.hostname or "", proxy.port or 0, timeout=20)
    connection.request("GET", url, headers={"Proxy-Authorization": f"Basic {token}"})
    response = connection.getresponse()
    return response.status, response.read().decode()
