"""Certificates, keys and tokens of the development cluster, generated into its state dir.

Uses the openssl command line (the `cryptography` package is not a kubegym
dependency). Called by `kubegym.devcluster.cluster.up` before the apiserver starts.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kubegym import errors

#: The real node's name (`kubegym.devcluster.realnode`).
REAL_NODE = "real-0"
#: The real node's address: a dummy interface on this host, reachable from its pods.
NODE_IP = "10.250.0.1"

#: Users with a static token: name → (groups). The controller manager and the scheduler
#: get the identities the default RBAC roles are bound to.
_USERS: dict[str, tuple[str, ...]] = {
    "admin": ("system:masters",),
    "system:kube-controller-manager": (),
    "system:kube-scheduler": (),
    # A real node's programs (`kubegym.devcluster.realnode`): the Node authorizer knows the
    # kubelet by this name and group; kube-proxy's user is bound to system:node-proxier.
    f"system:node:{REAL_NODE}": ("system:nodes",),
    "system:kube-proxy": (),
    "system:coredns": (),
    "system:kubegym-netpol": (),
}


@dataclass(frozen=True)
class Credentials:
    """Where the generated material lives, and the static tokens by user name."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_pub: Path
    token_file: Path
    tokens: dict[str, str]
    #: The apiserver's client certificate for kubelets (`kubectl logs`, exec).
    kubelet_client_cert: Path | None = None
    kubelet_client_key: Path | None = None


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise errors.InfraError("CertificateFailed", f"openssl {args[0]}: {result.stderr[-500:]}")


def generate(pki_dir: Path) -> Credentials:
    """Create a CA, the apiserver's serving certificate, the service-account key pair and tokens.

    Args:
        pki_dir: an empty or missing folder; it is created.

    Returns:
        The paths and tokens the processes and the kubeconfig use.

    Raises:
        InfraError: openssl is missing or failed.
    """
    if shutil.which("openssl") is None:
        raise errors.InfraError(
            "CertificateFailed", "the openssl command is needed: install openssl"
        )
    pki_dir.mkdir(parents=True, exist_ok=True)
    pki_dir.chmod(0o700)
    ca_key, ca_cert = pki_dir / "ca.key", pki_dir / "ca.crt"
    key, cert, csr = pki_dir / "apiserver.key", pki_dir / "apiserver.crt", pki_dir / "apiserver.csr"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_cert),
        "-days", "3650", "-subj", "/CN=kubegym-dev-cluster-ca",
    )  # fmt: skip
    _openssl(
        "req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=kube-apiserver"
    )
    extensions = pki_dir / "apiserver.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=IP:127.0.0.1,IP:10.0.0.1,IP:{NODE_IP},DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "3650", "-extfile", str(extensions),
    )  # fmt: skip
    client_key, client_cert = pki_dir / "kubelet-client.key", pki_dir / "kubelet-client.crt"
    client_csr = pki_dir / "kubelet-client.csr"
    _openssl(
        "req", "-new", *ec, "-keyout", str(client_key), "-out", str(client_csr),
        "-subj", "/O=system:masters/CN=kube-apiserver-kubelet-client",
    )  # fmt: skip
    client_ext = pki_dir / "kubelet-client.ext"
    client_ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", str(client_csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(client_cert), "-days", "3650", "-extfile", str(client_ext),
    )  # fmt: skip
    sa_key, sa_pub = pki_dir / "sa.key", pki_dir / "sa.pub"
    _openssl(
        "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(sa_key)
    )
    _openssl("pkey", "-in", str(sa_key), "-pubout", "-out", str(sa_pub))
    tokens = {user: secrets.token_urlsafe(32) for user in _USERS}
    token_file = pki_dir / "tokens.csv"
    lines = []
    for uid, (user, groups) in enumerate(_USERS.items()):
        group_field = f',"{",".join(groups)}"' if groups else ""
        lines.append(f"{tokens[user]},{user},uid-{uid}{group_field}")
    token_file.write_text("\n".join(lines) + "\n")
    for path in pki_dir.iterdir():
        path.chmod(0o600)
    return Credentials(
        ca_cert, cert, key, sa_key, sa_pub, token_file, tokens, client_cert, client_key
    )
