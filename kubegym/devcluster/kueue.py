"""Kueue in the development cluster: built from its Go module, run as a process on loopback.

`ensure_built` builds ``sigs.k8s.io/kueue/cmd/kueue`` into the cluster's binary cache
(``make cluster-bins`` calls it) and copies Kueue's CRDs and webhook manifests out of the
downloaded module next to it, all stamped with `KUEUE_VERSION` in the cache's version
file. `start` runs Kueue against a running development cluster (``kubegym dev-cluster up
--with-kueue``, or a test module's fixture against the session's cluster): the CRDs, a
Configuration enabling the ``pod`` integration, its webhook server on 127.0.0.1 with a
certificate signed by the cluster's CA, and webhook configurations that point the API
server at it by URL. Only pods labelled ``kueue.x-k8s.io/queue-name`` reach its pod
webhooks, so a Kueue that is down or absent never blocks other pods. `stop` stops it and
deletes those webhook configurations.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from kubegym import errors
from kubegym.devcluster import _http, build, config, pki, processes

#: Kueue's release, ``sigs.k8s.io/kueue`` at this tag.
KUEUE_VERSION: Final = "v0.17.0"
NAME: Final = "kueue"
#: What `start` creates, and `stop` deletes, besides Kueue's CRDs.
NAMESPACE: Final = "kueue-system"
MUTATING: Final = "kubegym-dev-kueue-mutating"
VALIDATING: Final = "kubegym-dev-kueue-validating"
#: The pod label Kueue's pod integration reads; the only pods its webhooks ever see.
QUEUE_LABEL: Final = "kueue.x-k8s.io/queue-name"
#: The cache's files built from the module, each stamped with `KUEUE_VERSION`.
CRDS_FILE: Final = "kueue-crds.yaml"
WEBHOOKS_FILE: Final = "kueue-webhooks.yaml"
_FILES: Final = (NAME, CRDS_FILE, WEBHOOKS_FILE)
#: Kueue's own version stamp beside `build`'s: a cluster build running at the same time
#: rewrites that one from what it read at its start.
_STAMP: Final = "kueue-versions.json"
#: Kueue's metrics server needs a certificate at this fixed path when it does not manage
#: its own (cmd/kueue/main.go); nothing reads the metrics here, any loopback pair does.
METRICS_CERT_DIR: Final = Path("/etc/kueue/metrics/certs")
_STATE: Final = "kueue.json"
_GROUP: Final = "kueue.x-k8s.io"
#: CRDs Kueue converts between v1beta1 and v1beta2 (its kustomize patches); the others
#: need no conversion.
_CONVERTED: Final = ("localqueues", "clusterqueues", "cohorts", "workloads", "multikueueclusters")


def is_built(bin_dir: Path | None = None) -> bool:
    """Whether Kueue and its manifests are in the cache at `KUEUE_VERSION`."""
    folder = bin_dir or config.bin_dir()
    try:
        recorded = json.loads((folder / _STAMP).read_text())
    except (OSError, ValueError):
        return False
    return all(
        isinstance(recorded, dict)
        and recorded.get(name) == KUEUE_VERSION
        and (folder / name).is_file()
        for name in _FILES
    )


def ensure_built() -> Path:
    """Build Kueue and copy its manifests into the binary cache, once.

    A warm call only reads the version stamp. A cold one downloads the module through
    the Go module proxy and compiles ``cmd/kueue`` (its time goes to
    ``kueue-build-times.json`` in the cache).

    Returns:
        ``config.bin_dir()``, holding ``kueue``, `CRDS_FILE` and `WEBHOOKS_FILE`.

    Raises:
        InfraError: a download or the build failed (reason ``BuildFailed``).
    """
    bin_dir = config.bin_dir()
    if is_built(bin_dir):
        return bin_dir
    if shutil.which("go") is None:
        raise errors.InfraError("BuildFailed", "Kueue is built with Go: install Go 1.25 or newer")
    bin_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kubegym-build-") as tmp:
        # -s -w as the other binaries; Kueue's version variables stay empty (it logs them).
        timings[NAME] = build._go_install(
            bin_dir, Path(tmp), NAME, "sigs.k8s.io/kueue/cmd/kueue", KUEUE_VERSION
        )
    info = json.loads(
        build._run(["go", "mod", "download", "-json", f"sigs.k8s.io/kueue@{KUEUE_VERSION}"])
    )
    components = Path(info["Dir"]) / "config" / "components"
    crds = [
        path.read_text().strip() for path in sorted((components / "crd" / "bases").glob("*.yaml"))
    ]
    (bin_dir / CRDS_FILE).write_text("\n---\n".join(crds) + "\n")
    (bin_dir / WEBHOOKS_FILE).write_text((components / "webhook" / "manifests.yaml").read_text())
    stamp = dict.fromkeys(_FILES, KUEUE_VERSION)
    (bin_dir / _STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    (bin_dir / "kueue-build-times.json").write_text(json.dumps(timings, indent=1) + "\n")
    return bin_dir


@dataclass(frozen=True)
class KueueServer:
    """A running Kueue of a development cluster."""

    webhook: str
    """``https://127.0.0.1:<port>``: its webhook server, as the API server calls it."""
    health: str
    """``http://127.0.0.1:<port>``: its ``/healthz`` and ``/readyz``."""
    kubeconfig: str
    """The kubeconfig it (and `stop`) talks to the cluster with."""
    state_dir: str


def state_dir(cluster_state: Path) -> Path:
    """Where Kueue of the cluster in ``cluster_state`` keeps its config, certificates and log."""
    return cluster_state / NAME


def start(cluster_state: Path, kubeconfig: Path, *, timeout: float = 120.0) -> KueueServer:
    """Start Kueue against the running development cluster recorded in ``cluster_state``.

    Installs (or updates) Kueue's CRDs, writes its Configuration and a serving
    certificate signed by the cluster's CA, starts ``kueue``, then registers its
    webhooks and waits until the API server gets answers from them.

    Args:
        cluster_state: the cluster's state dir (its CA key is in ``pki/``).
        kubeconfig: an admin kubeconfig of that cluster, as `cluster.up` writes it.
        timeout: seconds for each readiness step.

    Returns:
        The running Kueue; `stop` (or the cluster's ``down``) stops it.

    Raises:
        ConfigError: Kueue is already running for this cluster.
        InfraError: Kueue is not built, a certificate or a request failed, or Kueue was
            not ready within ``timeout`` (what was started is stopped again).
    """
    folder = state_dir(cluster_state.resolve())
    if NAME in processes.recorded(folder):
        raise errors.ConfigError(
            f"Kueue already runs for the cluster in {cluster_state}", field="--with-kueue"
        )
    bin_dir = config.bin_dir()
    if not is_built(bin_dir):
        raise errors.InfraError(
            "ClusterNotReady", "Kueue is not built: run `make cluster-bins` first"
        )
    admin = _admin(kubeconfig)
    ca_cert = cluster_state / "pki" / "ca.crt"
    folder.mkdir(parents=True, exist_ok=True)
    certs = _serving_cert(folder / "certs", ca_cert, cluster_state / "pki" / "ca.key")
    _metrics_cert(certs)
    webhook_port, health_port = processes.free_port(), processes.free_port()
    server = KueueServer(
        webhook=f"https://127.0.0.1:{webhook_port}",
        health=f"http://127.0.0.1:{health_port}",
        kubeconfig=str(kubeconfig.resolve()),
        state_dir=str(folder),
    )
    bundle = base64.b64encode(ca_cert.read_bytes()).decode()
    _ensure(admin, "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    crds = _crds(bin_dir, server.webhook, bundle)
    for crd in crds:
        _apply_crd(admin, crd)
    # Kueue sets up its indexes on Workloads at start and exits if they are not served yet.
    names = [crd["metadata"]["name"] for crd in crds]
    processes.wait_ready(
        "Kueue's CRDs", lambda: all(_established(admin, n) for n in names), timeout, folder, log=""
    )
    config_file = folder / "config.yaml"
    config_file.write_text(yaml.safe_dump(_configuration(webhook_port, health_port, certs)))
    processes.start(
        folder,
        NAME,
        [str(bin_dir / NAME), f"--config={config_file}"],
        env={"KUBECONFIG": server.kubeconfig},
    )
    (folder / _STATE).write_text(json.dumps(asdict(server)) + "\n")
    try:
        processes.wait_ready(
            "Kueue /readyz", lambda: _ready(server.health), timeout, folder, log=NAME
        )
        for manifest in webhook_configurations(bin_dir / WEBHOOKS_FILE, server.webhook, bundle):
            _replace(admin, _admission_path(manifest["kind"]), manifest)
        processes.wait_ready(
            "Kueue's webhooks", lambda: _webhooks_answer(admin), timeout, folder, log=NAME
        )
    except BaseException:
        stop(cluster_state)
        raise
    return server


def running(cluster_state: Path) -> KueueServer | None:
    """The Kueue recorded for the cluster in ``cluster_state``, if it runs."""
    folder = state_dir(cluster_state.resolve())
    if NAME not in processes.recorded(folder) or not (folder / _STATE).is_file():
        return None
    return KueueServer(**json.loads((folder / _STATE).read_text()))


def stop(cluster_state: Path) -> bool:
    """Delete Kueue's webhook configurations, then stop Kueue; True when it was running.

    The webhooks go first, so no request is sent to a server that is gone. Its CRDs,
    queues and workloads stay (a later `start` finds them). An API server that no longer
    answers (the cluster is going down) is not an error.
    """
    folder = state_dir(cluster_state.resolve())
    recorded = folder / _STATE
    if recorded.is_file():
        kubeconfig = Path(json.loads(recorded.read_text())["kubeconfig"])
        try:
            admin = _admin(kubeconfig)
            for kind, name in (
                ("MutatingWebhookConfiguration", MUTATING),
                ("ValidatingWebhookConfiguration", VALIDATING),
            ):
                admin.request("DELETE", f"{_admission_path(kind)}/{name}")
        except (OSError, errors.KubegymError):
            pass
    stopped = processes.stop(folder, NAME)
    recorded.unlink(missing_ok=True)
    return stopped


def webhook_configurations(manifests: Path, url: str, ca_bundle: str) -> list[dict[str, Any]]:
    """Kueue's webhook configurations, reaching it at ``url`` and trusting ``ca_bundle``.

    Only the webhooks of Kueue's own objects and of pods (the one integration enabled)
    are kept; each calls ``url`` plus its path instead of an in-cluster Service. The pod
    webhooks see only pods labelled `QUEUE_LABEL`.

    Args:
        manifests: Kueue's ``config/components/webhook/manifests.yaml``.
        url: ``https://127.0.0.1:<port>``.
        ca_bundle: the base64 PEM of the CA that signed Kueue's serving certificate.
    """
    names = {"MutatingWebhookConfiguration": MUTATING, "ValidatingWebhookConfiguration": VALIDATING}
    result = []
    for document in yaml.safe_load_all(manifests.read_text()):
        if not document or document.get("kind") not in names:
            continue
        hooks = []
        for hook in document.get("webhooks") or []:
            groups = {g for rule in hook.get("rules") or [] for g in rule.get("apiGroups") or []}
            resources = {r for rule in hook.get("rules") or [] for r in rule.get("resources") or []}
            is_pod = groups == {""} and resources == {"pods"}
            if groups != {_GROUP} and not is_pod:
                continue
            hook = copy.deepcopy(hook)
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": url + path, "caBundle": ca_bundle}
            if is_pod:
                hook["objectSelector"] = {
                    "matchExpressions": [{"key": QUEUE_LABEL, "operator": "Exists"}]
                }
            hooks.append(hook)
        kind = document["kind"]
        result.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": {"name": names[kind], "labels": {"app.kubernetes.io/name": NAME}},
                "webhooks": hooks,
            }
        )
    return result


def _configuration(webhook_port: int, health_port: int, certs: Path) -> dict[str, Any]:
    """Kueue's Configuration: the pod integration, loopback ports, certificates of our own."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        # "0" turns the metrics server off: nothing scrapes it here.
        "metrics": {"bindAddress": "0"},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(certs)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": ["pod"]},
        "clientConnection": {"qps": 50, "burst": 100},
        # The on-demand visibility API would bind a fixed port and want an APIService.
        "featureGates": {"VisibilityOnDemand": False},
    }


def _crds(bin_dir: Path, url: str, ca_bundle: str) -> list[dict[str, Any]]:
    """Kueue's CRDs; those served in two versions convert through its webhook at ``url``."""
    crds = [d for d in yaml.safe_load_all((bin_dir / CRDS_FILE).read_text()) if d]
    for crd in crds:
        if crd["spec"]["names"]["plural"] in _CONVERTED:
            crd["spec"]["conversion"] = {
                "strategy": "Webhook",
                "webhook": {
                    "clientConfig": {"url": url + "/convert", "caBundle": ca_bundle},
                    "conversionReviewVersions": ["v1"],
                },
            }
    return crds


def _serving_cert(folder: Path, ca_cert: Path, ca_key: Path) -> Path:
    """``tls.crt``/``tls.key`` for 127.0.0.1 in ``folder``, signed by the cluster's CA."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    key, cert, csr = folder / "tls.key", folder / "tls.crt", folder / "tls.csr"
    extensions = folder / "tls.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    pki._openssl("req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=kueue")
    pki._openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "3650", "-extfile", str(extensions),
    )  # fmt: skip
    key.chmod(0o600)
    return folder


def _metrics_cert(certs: Path) -> None:
    """Give Kueue's metrics server the certificate it insists on (see `METRICS_CERT_DIR`)."""
    target = METRICS_CERT_DIR
    if (target / "tls.crt").is_file() and (target / "tls.key").is_file():
        return
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in ("tls.crt", "tls.key"):
            (target / name).write_bytes((certs / name).read_bytes())
            (target / name).chmod(0o600)
    except OSError as exc:
        raise errors.InfraError(
            "ClusterNotReady",
            f"Kueue reads a metrics certificate from {target}, which cannot be written "
            f"here ({exc}): create it once as root (any tls.crt/tls.key pair)",
        ) from exc


def _admin(kubeconfig: Path) -> _http.ApiClient:
    """An API client from a kubeconfig written by `kubegym.devcluster.kubeconfigs`."""
    try:
        data = yaml.safe_load(kubeconfig.read_text())
        cluster = data["clusters"][0]["cluster"]
        token = data["users"][0]["user"]["token"]
    except (OSError, KeyError, IndexError, TypeError) as exc:
        raise errors.ConfigError(
            f"{kubeconfig} is not a development cluster's admin kubeconfig ({exc})",
            field="kubeconfig",
        ) from exc
    return _http.ApiClient(cluster["server"], Path(cluster["certificate-authority"]), token)


def _admission_path(kind: str) -> str:
    plural = {"MutatingWebhookConfiguration": "mutatingwebhookconfigurations"}.get(
        kind, "validatingwebhookconfigurations"
    )
    return f"/apis/admissionregistration.k8s.io/v1/{plural}"


def _ensure(admin: _http.ApiClient, collection: str, body: dict[str, Any]) -> None:
    """Create ``body`` unless it exists."""
    status, answer = admin.request("POST", collection, body)
    if status not in (200, 201, 409):
        raise errors.InfraError("ClusterNotReady", f"creating {collection}: {answer}")


def _replace(admin: _http.ApiClient, collection: str, body: dict[str, Any]) -> None:
    """Create ``body``, or replace the object of that name with it."""
    status, answer = admin.request("POST", collection, body)
    if status == 409:
        path = f"{collection}/{body['metadata']['name']}"
        status, current = admin.request("GET", path)
        if status == 200:
            body = {**body, "metadata": {**body["metadata"], **_version(current)}}
            status, answer = admin.request("PUT", path, body)
    if status not in (200, 201):
        raise errors.InfraError(
            "ClusterNotReady", f"applying {body['kind']} {body['metadata']['name']}: {answer}"
        )


def _version(current: Any) -> dict[str, str]:
    return {"resourceVersion": str(current["metadata"]["resourceVersion"])}


def _apply_crd(admin: _http.ApiClient, crd: dict[str, Any]) -> None:
    _replace(admin, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)


def _established(admin: _http.ApiClient, name: str) -> bool:
    status, body = admin.request(
        "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    )
    conditions = (body.get("status") or {}).get("conditions") or [] if status == 200 else []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _ready(health: str) -> bool:
    try:
        with urllib.request.urlopen(health + "/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _webhooks_answer(admin: _http.ApiClient) -> bool:
    """Whether a dry-run ClusterQueue passes Kueue's webhooks (and its CRDs are served)."""
    probe = {
        "apiVersion": f"{_GROUP}/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": "kubegym-dev-probe"},
        "spec": {},
    }
    try:
        status, _ = admin.request("POST", f"/apis/{_GROUP}/v1beta2/clusterqueues?dryRun=All", probe)
    except OSError:
        return False
    return status in (200, 201)
