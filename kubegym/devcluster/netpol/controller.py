"""The NetworkPolicy controller of the real node: lists and watches policies, pods and
namespaces, compiles them (`compiler`) and loads the result (`kernel`) whenever it changes.

`kubegym.devcluster.realnode` starts it as ``python -m kubegym.devcluster.netpol
--kubeconfig PATH --node real-0`` (`main`). Until the first sync the whole pod CIDR is
dropped (fail closed); after a stop (unless ``--keep``) nothing is.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog

from kubegym import errors
from kubegym import log as logging_setup
from kubegym.devcluster.netpol import compiler, kernel, rules

#: How often the ruleset is loaded again with no change (someone may have flushed it).
RESYNC_SECONDS = 30.0
#: How long a burst of API events is gathered before compiling.
DEBOUNCE_SECONDS = 0.05
WATCH_SECONDS = 240
#: A list call's options: the API's own JSON (not the client's classes), and a time limit.
_LIST: dict[str, Any] = {"_preload_content": False, "_request_timeout": 30}


class Watched:
    """One kind's objects as the API last said: listed, then kept by a watch, in a thread."""

    def __init__(
        self, kind: str, list_call: Callable[..., Any], stream: Callable[..., Iterable[Any]]
    ) -> None:
        self.kind, self.list_call, self.stream = kind, list_call, stream
        self.objects: dict[str, rules.Raw] = {}
        self.synced = False
        self.lock = threading.Lock()

    def snapshot(self) -> list[rules.Raw]:
        """The objects now."""
        with self.lock:
            return list(self.objects.values())

    def run(self, stop: threading.Event, changed: threading.Event) -> None:
        """List, then watch from that version, until ``stop``; set ``changed`` on each change.

        Any failure (a 410 Gone too) lists again after a second.
        """
        log = structlog.get_logger().bind(kind=self.kind)
        while not stop.is_set():
            try:
                version = self._list(changed)
                while not stop.is_set():
                    version = self._watch(version, changed)
            except Exception as err:  # any API or connection failure (a 410 too): list again
                log.warning("netpol_watch_restarted", error=str(err)[:300])
                stop.wait(1.0)

    def _list(self, changed: threading.Event) -> str:
        """Replace the objects with a fresh list; its resource version."""
        body = json.loads(self.list_call(**_LIST).data)
        with self.lock:
            self.objects = {_key(o): o for o in body.get("items") or []}
            self.synced = True
        changed.set()
        version: str = body["metadata"]["resourceVersion"]
        return version

    def _watch(self, version: str, changed: threading.Event) -> str:
        """Apply one watch's events (until it times out); the last version seen."""
        stream = self.stream(
            self.list_call,
            resource_version=version,
            timeout_seconds=WATCH_SECONDS,
            allow_watch_bookmarks=True,
            deserialize=False,
            _request_timeout=WATCH_SECONDS + 30,  # a silent apiserver too
        )
        for event in stream:
            obj = event["object"]
            version = obj["metadata"]["resourceVersion"]
            if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                with self.lock:
                    if event["type"] == "DELETED":
                        self.objects.pop(_key(obj), None)
                    else:
                        self.objects[_key(obj)] = obj
                changed.set()
        return version


def _key(obj: rules.Raw) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def connect(kubeconfig: str) -> list[Watched]:
    """The three kinds the compiler reads, in `compiler.compile_ruleset`'s argument order.

    Raises:
        errors.ConfigError: the kubeconfig is unusable.
    """
    # The Kubernetes client is the operator extra's; the compiler needs none.
    from kubernetes import client, watch
    from kubernetes import config as loader

    config: Any = loader  # untyped, like the watch
    watcher: Any = watch

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    except (config.ConfigException, OSError) as err:
        raise errors.ConfigError(f"unusable kubeconfig: {err}", field="--kubeconfig") from err
    api = client.ApiClient(configuration)
    core, networking = client.CoreV1Api(api), client.NetworkingV1Api(api)

    def stream(*args: Any, **kwargs: Any) -> Iterable[Any]:
        return watcher.Watch().stream(*args, **kwargs)  # type: ignore[no-any-return]

    return [
        Watched("networkpolicies", networking.list_network_policy_for_all_namespaces, stream),
        Watched("pods", core.list_pod_for_all_namespaces, stream),
        Watched("namespaces", core.list_namespace, stream),
    ]


def run(kubeconfig: str, options: rules.Options, *, once: bool = False, keep: bool = False) -> None:
    """Enforce the cluster's NetworkPolicies on ``options.node`` until SIGTERM or SIGINT.

    Call it from the main thread: it installs the signal handlers (and restores them).

    Args:
        kubeconfig: the controller's kubeconfig (it lists and watches pods, namespaces and
            networkpolicies).
        options: what to program.
        once: load the ruleset once and return, leaving the tables.
        keep: leave the tables when stopped (the pods stay filtered by the last rules).

    Raises:
        errors.InfraError: nft is missing or the kernel lacks br_netfilter.
    """
    log = structlog.get_logger().bind(node=options.node)
    if shutil.which("nft") is None:
        raise errors.InfraError("NetworkPolicyNotLoaded", "nft is not installed (Debian: nftables)")
    kernel.ensure_bridge_netfilter()
    kinds = connect(kubeconfig)
    if once:
        _load_once(kinds, options, log)
        return
    stop, changed = threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("netpol_stopping", signal=signal.Signals(signum).name)
        stop.set()
        changed.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _enforce(kinds, options, stop, changed, log)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if not keep:
            kernel.remove(options.table)
            log.info("netpol_removed", table=options.table)


def _load_once(kinds: list[Watched], options: rules.Options, log: Any) -> None:
    """List the three kinds once, load their ruleset and forget the flows it changes."""
    try:
        lists = [json.loads(k.list_call(**_LIST).data)["items"] for k in kinds]
    except Exception as err:  # the client's errors have no common base: name the call
        raise errors.InfraError("ApiUnreachable", f"listing for netpol: {err}") from err
    ruleset = compiler.compile_ruleset(lists[0], lists[1], lists[2], options)
    kernel.apply(ruleset)
    kernel.forget_connections(None, ruleset)
    log.info("netpol_applied", pods=len(ruleset.pods), isolated=_isolated(ruleset))


@dataclasses.dataclass
class _Loaded:
    """The ruleset in the kernel now, and when it was loaded (monotonic seconds)."""

    ruleset: compiler.Ruleset | None = None
    at: float = 0.0


def _enforce(
    kinds: list[Watched],
    options: rules.Options,
    stop: threading.Event,
    changed: threading.Event,
    log: Any,
) -> None:
    """Drop the pod CIDR, start the watches, then load the rules on every change (and every
    `RESYNC_SECONDS`) until ``stop``."""
    # Until the first sync no pod address is known: the pod CIDR is dropped (fail closed).
    kernel.apply(compiler.compile_ruleset([], [], [], options))
    for kind in kinds:
        threading.Thread(target=kind.run, args=(stop, changed), daemon=True).start()
    loaded = _Loaded()
    while not stop.is_set():
        changed.wait(RESYNC_SECONDS)
        changed.clear()
        if stop.is_set() or not all(k.synced for k in kinds):
            continue
        stop.wait(DEBOUNCE_SECONDS)  # gather a burst of events
        if not _sync(kinds, options, loaded, log):  # the previous rules stay; try again
            stop.wait(1.0)
            changed.set()


def _sync(kinds: list[Watched], options: rules.Options, loaded: _Loaded, log: Any) -> bool:
    """Compile what the watches hold and load it if it changed or is due again.

    Returns:
        False when it could not be loaded (nft refused it, br_netfilter went away).
    """
    started = time.monotonic()
    policies, pods, namespaces = (k.snapshot() for k in kinds)
    ruleset = compiler.compile_ruleset(policies, pods, namespaces, options)
    same = loaded.ruleset is not None and ruleset.text == loaded.ruleset.text
    if same and started - loaded.at < RESYNC_SECONDS:
        return True
    try:
        kernel.ensure_bridge_netfilter()
        kernel.apply(ruleset)
    except errors.InfraError as err:
        log.error("netpol_apply_failed", error=str(err))
        return False
    kernel.forget_connections(loaded.ruleset, ruleset)
    loaded.at = time.monotonic()
    if not same:
        log.info(
            "netpol_applied",
            pods=len(ruleset.pods),
            isolated=_isolated(ruleset),
            seconds=round(loaded.at - started, 3),
        )
    loaded.ruleset = ruleset
    return True


def _isolated(ruleset: compiler.Ruleset) -> int:
    return sum(1 for p in ruleset.pods if p.ingress is not None or p.egress is not None)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kubegym.devcluster.netpol``: parse the options and `run`; 1 on an error."""
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.devcluster.netpol",
        description="Enforce NetworkPolicies for one node's pods with nftables.",
        epilog="example: python -m kubegym.devcluster.netpol --kubeconfig netpol.kubeconfig "
        "--node real-0",
    )
    parser.add_argument("--kubeconfig", required=True, help="the controller's kubeconfig")
    parser.add_argument("--node", required=True, help="the node whose pods are programmed")
    parser.add_argument(
        "--once", action="store_true", help="load once and exit, keeping the tables"
    )
    parser.add_argument("--keep", action="store_true", help="keep the tables on exit")
    parser.add_argument(
        "--pod-cidr",
        default=rules.POD_CIDR,
        help=f"drop addresses here that no pod owns ('' for none; default {rules.POD_CIDR})",
    )
    parser.add_argument(
        "--bridge-ports",
        default=rules.BRIDGE_PORTS,
        help=f"the pods' bridge ports: only IPv4 and ARP enter from them ('' for no such rule; "
        f"default {rules.BRIDGE_PORTS})",
    )
    parser.add_argument(
        "--table", default=rules.TABLE, help=f"the tables' name (default {rules.TABLE})"
    )
    args = parser.parse_args(argv)
    logging_setup.configure()
    options = rules.Options(
        node=args.node,
        pod_cidr=args.pod_cidr or None,
        bridge_ports=args.bridge_ports or None,
        table=args.table,
    )
    try:
        run(args.kubeconfig, options, once=args.once, keep=args.keep)
    except errors.KubegymError as err:
        structlog.get_logger().error("netpol_failed", error=str(err))
        return 1
    return 0
