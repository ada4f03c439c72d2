"""The Ray cluster: connect (or start a local one) and check a trial fits on it."""

from __future__ import annotations

import gc
import logging
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, replace

from tuning.config import ResourcesConfig
from tuning.console import say
from tuning.errors import ExperimentError

ADDRESS_ENV = "RAY_ADDRESS"
CONNECT_TIMEOUT_S = 10.0  # how long an address may take to answer before the run stops
WAIT_ENV = "TUNING_CLUSTER_WAIT_S"  # how long to wait for a joined cluster's first fitting node
DEFAULT_WAIT_S = 600.0
POLL_S = 2.0  # how often a waiting run looks at the cluster again
TLS_ENV = ("RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")  # Ray's TLS mode


THIS_MACHINE = "this machine"  # the address of `local_cluster`: a description, no Ray started


@dataclass(frozen=True)
class Cluster:
    """What the connected cluster offers trials."""

    address: str
    nodes: int
    cpus: float
    gpus: float
    node_cpus: tuple[float, ...]
    node_gpus: tuple[float, ...]
    started_here: bool
    wait_s: float = 0.0  # how long `check_fits` waits for a node that fits (a joined cluster)

    def slots(self, resources: ResourcesConfig) -> int:
        """How many trials of this size can run at once (before max_concurrent_trials)."""
        total = 0
        for cpus, gpus in zip(self.node_cpus, self.node_gpus, strict=True):
            fit = int(cpus // resources.num_cpus)
            if resources.num_gpus:
                fit = min(fit, int(gpus // resources.num_gpus + 1e-9))
            total += fit
        if resources.max_concurrent_trials:
            total = min(total, resources.max_concurrent_trials)
        return total


def resolve_address(address: str | None) -> str | None:
    """The cluster to join: ``address`` (``--address``, else the file's), else ``RAY_ADDRESS``.

    None means: start a local Ray. It never latches onto a cluster that ``ray start`` left
    running on this machine; ``auto`` asks for that one (Ray's own lookup).
    """
    address = address or os.environ.get(ADDRESS_ENV) or None
    return None if address == "local" else address


def _use_token_if_available(address: str) -> None:
    """Send the local Ray token to an explicit address, as Ray itself does for ``auto``.

    Clusters started by ``ray start`` enable token authentication by default; Ray only
    sends the token (``~/.ray/auth_token``, ``RAY_AUTH_TOKEN``) unasked when the address is
    ``auto``. A cluster without authentication accepts a token as well.
    """
    if address == "auto" or os.environ.get("RAY_AUTH_MODE") is not None:
        return
    try:
        # a private Ray API, on first use: another Ray may lack it
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray: its own defaults apply
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


OOM_RETRIES_ENV = "RAY_task_oom_retries"


def limit_oom_retries(retries: int) -> None:
    """Retry a Ray task its memory monitor killed ``retries`` times (``max_failures``), unless
    ``RAY_task_oom_retries`` is set: Ray's default retries it without end, and a trial that always
    needs more memory than the node has would hang the run. Ray reads it when it starts in this
    process (the driver owns the tasks): a Ray already running here keeps its own.
    """
    os.environ.setdefault(OOM_RETRIES_ENV, str(retries))


def connect(
    address: str | None = None,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    wait_s: float = 0.0,
) -> Cluster:
    """Join the running Ray session, the cluster at ``address`` (or ``RAY_ADDRESS``), or start one.

    Joining a cluster starts no Ray process here; ``num_cpus``/``num_gpus`` size only a
    local Ray this starts. ``wait_s``: how long `check_fits` may wait for a node of a
    joined cluster that can hold a trial (an autoscaling cluster's workers still starting).
    """
    import ray  # Ray on first use: a plan and a local --dry-run never load it

    started = joined = False
    if not ray.is_initialized():
        check_reachable(address)
        # A local cluster keeps Ray's secure default (token auth) without announcing it.
        logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(
            lambda record: "Token authentication is enabled" not in record.getMessage()
        )
        address = resolve_address(address)
        if address:
            _use_token_if_available(address)
            kwargs = {}
        else:  # "local": a new Ray even if `ray start` left one running here
            kwargs = {"num_cpus": num_cpus, "num_gpus": num_gpus}
        try:
            ray.init(
                address=address or "local",
                include_dashboard=False,
                logging_level=logging.WARNING,
                configure_logging=True,
                **{k: v for k, v in kwargs.items() if v is not None},
            )
        except RuntimeError as exc:
            raise version_mismatch(address, str(exc)) or exc from None
        started, joined = not address, bool(address)
    return replace(snapshot(started), wait_s=wait_s if joined else 0.0)  # never wait for a local Ray


class RayRelease:
    """Stops the local Ray a run started, in a thread, once `start` says nothing needs it.

    Its processes take ~1.4 s to exit (a SIGTERM, then a wait for each); the refit and the
    reports run meanwhile. ``cluster`` None (the caller keeps Ray up) or joined, not started
    here: nothing to stop. `join` before returning; `start` more than once is one stop.

    An object that still refers to Ray's (an `ObjectRef` in Tune's leftovers) must not be
    freed while Ray shuts down: its release would reach a core worker half gone, and Ray ends
    the process (exit 1). So the garbage is collected before the stop, and the collector
    stays off until `join`.
    """

    def __init__(self, cluster: Cluster | None) -> None:
        self.wanted = cluster is not None and cluster.started_here
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.wanted and self.thread is None:
            import ray  # Ray on first use: a plan and a local --dry-run never load it

            gc.collect()
            gc.disable()
            self.thread = threading.Thread(target=ray.shutdown, name="ray-shutdown")
            self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            gc.enable()


def snapshot(started_here: bool = False) -> Cluster:
    """The connected cluster's live nodes, now."""
    import ray  # Ray on first use: a plan and a local --dry-run never load it

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    node_cpus = tuple(float(n["Resources"].get("CPU", 0)) for n in nodes)
    node_gpus = tuple(float(n["Resources"].get("GPU", 0)) for n in nodes)
    return Cluster(
        address=ray.get_runtime_context().gcs_address,
        nodes=len(nodes),
        cpus=sum(node_cpus),
        gpus=sum(node_gpus),
        node_cpus=node_cpus,
        node_gpus=node_gpus,
        started_here=started_here,
    )


def cluster_wait_s(given: float | None = None) -> float:
    """Seconds to wait for a joined cluster's first node that fits a trial.

    ``--wait-for-cluster`` (``given``), else ``$TUNING_CLUSTER_WAIT_S``, else 10 minutes.
    """
    if given is None:
        raw = os.environ.get(WAIT_ENV, "").strip()
        try:
            given = float(raw) if raw else DEFAULT_WAIT_S
        except ValueError:
            raise ExperimentError(
                f"must be a number of seconds; got {raw!r}", where="environment", key=WAIT_ENV
            ) from None
    if not given >= 0:
        raise ExperimentError(f"must be 0 or more seconds; got {given:g}", where="--wait-for-cluster")
    return float(given)


_MISMATCH = re.compile(
    r"cluster was started with:\s*Ray: (\S+)\s*Python: (\S+)\s*"
    r"This process .*? was started with:\s*Ray: (\S+)\s*Python: (\S+)",
    re.S,
)


def version_mismatch(address: str | None, message: str) -> ExperimentError | None:
    """The one-line error for Ray's "Version mismatch" (None for any other error of ``ray.init``)."""
    found = _MISMATCH.search(message)
    if not found:
        return None
    ray_there, python_there, ray_here, python_here = found.groups()
    differ = [
        f"{what} {there} on the cluster, {here} here"
        for what, there, here in (("Ray", ray_there, ray_here), ("Python", python_there, python_here))
        if there != here
    ]
    return ExperimentError(
        f"must run the Ray and Python versions of this process; the cluster at {address} differs: "
        f"{'; '.join(differ) or message.splitlines()[0]}",
        key="address",
    )


def local_cluster(num_cpus: float | None = None, num_gpus: float | None = None) -> Cluster:
    """This machine as the local Ray ``connect`` would start would see it, without starting Ray.

    The CPU and GPU counts are Ray's own detection (cgroup limits and visible GPUs included)
    unless ``num_cpus``/``num_gpus`` say otherwise, as ``--num-cpus``/``--num-gpus`` do.
    """
    # Ray's detection helpers: importing them starts nothing
    from ray._private.accelerators import get_accelerator_manager_for_resource
    from ray._private.utils import get_num_cpus

    cpus = float(num_cpus if num_cpus is not None else get_num_cpus())
    if num_gpus is None:
        num_gpus = get_accelerator_manager_for_resource("GPU").get_current_node_num_accelerators()
    gpus = float(num_gpus)
    return Cluster(THIS_MACHINE, 1, cpus, gpus, (cpus,), (gpus,), started_here=False)


def check_reachable(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse an address where no Ray cluster answers, within ``timeout`` seconds.

    ``ray.init(address=...)`` waits minutes for a head that does not answer. Ray's GCS and
    Ray Client ports speak gRPC: a server answers the HTTP/2 client preface with a SETTINGS
    frame at once, so a TCP connect and that one frame tell a live head from a wrong port,
    a closed one or a silent host. In Ray's TLS mode (``RAY_USE_TLS=1`` and its
    certificates here) the preface goes inside a TLS handshake made with those
    certificates, as Ray's own clients do. ``auto`` and ``local`` are Ray's own lookups.
    """
    if not address or address in ("auto", "local"):
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if "://" in target or not host or not port.isdigit():
        raise ExperimentError(f"must be host:port, ray://host:port or auto; got {address!r}", key="address")
    where = (host.strip("[]"), int(port))
    tls = tls_context()
    reason = _probe(where, timeout, tls)
    if reason is None:
        return
    if tls is None and reason != "no answer" and _speaks_tls(where, timeout):
        reason = f"it speaks TLS: Ray's TLS mode needs RAY_USE_TLS=1 and {', '.join(TLS_ENV)} here too"
    elif tls is not None and reason != "no answer" and _probe(where, timeout, None) is None:
        reason = "it does not speak TLS, but RAY_USE_TLS is set here"
    raise ExperimentError(
        f"must be a running Ray cluster; nothing answers at {address} within {timeout:g} s ({reason})",
        key="address",
    )


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def tls_context() -> ssl.SSLContext | None:
    """A client context with Ray's TLS certificates, if ``RAY_USE_TLS`` asks for TLS (else None).

    Ray's servers require a client certificate signed by the CA: the node's own certificate
    and key, as Ray's clients send. The name in the certificate is left to Ray's clients.
    """
    if os.environ.get("RAY_USE_TLS", "0").lower() not in ("1", "true"):
        return None
    missing = [name for name in TLS_ENV if not os.environ.get(name)]
    if missing:
        raise ExperimentError(
            f"is set, so {', '.join(missing)} must be set too", where="environment", key="RAY_USE_TLS"
        )
    cert, key, ca = (os.environ[name] for name in TLS_ENV)
    try:
        context = ssl.create_default_context(cafile=ca)
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ExperimentError(
            f"is set, but Ray's TLS certificates do not load ({cert}, {key}, {ca}): {exc}",
            where="environment",
            key="RAY_USE_TLS",
        ) from None
    context.check_hostname = False
    context.set_alpn_protocols(["h2"])
    return context


def _probe(where: tuple[str, int], timeout: float, tls: ssl.SSLContext | None) -> str | None:
    """Send the HTTP/2 preface (inside TLS with ``tls``): None if gRPC answered, else why not."""
    try:
        with socket.create_connection(where, timeout=timeout) as raw:
            raw.settimeout(timeout)
            sock = tls.wrap_socket(raw, server_hostname=where[0]) if tls else raw
            sock.sendall(_HTTP2_PREFACE)
            answer = b""
            while len(answer) < 9 and (chunk := sock.recv(9 - len(answer))):
                answer += chunk
    except TimeoutError:
        return "no answer"
    except ssl.SSLError as exc:
        return f"TLS handshake failed: {exc.reason or exc}"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if len(answer) == 9 and answer[3] == 4:  # an HTTP/2 SETTINGS frame: gRPC answered
        return None
    return "connection closed" if not answer else "it is not a Ray (gRPC) port"


def _speaks_tls(where: tuple[str, int], timeout: float) -> bool:
    """Whether a TLS server answers at ``where`` (a handshake without certificates)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(where, timeout=timeout) as raw, context.wrap_socket(raw):
            return True
    except ssl.SSLError as exc:  # an alert (no client certificate...) is a TLS server too
        return "ALERT" in (exc.reason or "")
    except OSError:
        return False


def check_fits(cluster: Cluster, resources: ResourcesConfig) -> Cluster:
    """Refuse a trial no node can hold, instead of leaving it pending forever.

    A joined cluster (``wait_s`` > 0) may still be growing: an autoscaling cluster whose
    head has no CPUs and whose workers are starting, or scaled to zero. It is waited for
    up to ``wait_s`` seconds; the cluster returned is the one that fits.
    """
    misfit = _misfit(cluster, resources)
    if misfit is None:
        return cluster
    if cluster.started_here or cluster.wait_s <= 0:
        raise misfit
    return wait_for_nodes(cluster, resources, misfit)


def _misfit(cluster: Cluster, resources: ResourcesConfig) -> ExperimentError | None:
    """Why no node of ``cluster`` can hold one trial (None if one can)."""
    if resources.num_cpus > max(cluster.node_cpus, default=0):
        return ExperimentError(
            f"must be at most {max(cluster.node_cpus, default=0):g}, the most CPUs of any node "
            f"of this cluster; got {resources.num_cpus:g}",
            key="resources.num_cpus",
        )
    if resources.num_gpus > max(cluster.node_gpus, default=0):
        have = max(cluster.node_gpus, default=0)
        return ExperimentError(
            f"must be at most {have:g}, the most GPUs of any node of this cluster"
            f"{' (it has none)' if not have else ''}; got {resources.num_gpus:g}",
            key="resources.num_gpus",
        )
    if cluster.slots(resources) < 1:
        return ExperimentError(
            f"cannot be met together by any node: {resources.num_cpus:g} CPUs with "
            f"{resources.num_gpus:g} GPUs",
            key="resources",
        )
    return None


def wait_for_nodes(cluster: Cluster, resources: ResourcesConfig, misfit: ExperimentError) -> Cluster:
    """Wait up to ``cluster.wait_s`` for a node that holds one trial; `misfit` if none comes.

    The autoscaler is asked for one trial's bundle meanwhile (`request_resources`, cleared
    after), and a bundle an autoscaler (v2) reports as infeasible stops the wait at once.
    """
    bundle = {"CPU": float(resources.num_cpus), "GPU": float(resources.num_gpus)}
    bundle = {name: amount for name, amount in bundle.items() if amount}
    wanted = " and ".join(f"{amount:g} {name}" for name, amount in bundle.items())
    say(
        f"Waiting up to {cluster.wait_s:g} s for a node with {wanted} to join the cluster at "
        f"{cluster.address} (none has them yet; ${WAIT_ENV} or --wait-for-cluster sets how long)"
    )
    deadline = time.monotonic() + cluster.wait_s
    _request_resources([bundle])
    try:
        while time.monotonic() < deadline:
            time.sleep(min(POLL_S, max(deadline - time.monotonic(), 0)))
            grown = replace(snapshot(), wait_s=cluster.wait_s)
            if _misfit(grown, resources) is None:
                return grown
            if infeasible(bundle):
                raise _more(misfit, "the autoscaler reports that no node type can hold one trial")
    finally:
        _request_resources([])
    raise _more(
        misfit, f"waited {cluster.wait_s:g} s for a node; ${WAIT_ENV} or --wait-for-cluster sets how long"
    )


def _more(error: ExperimentError, why: str) -> ExperimentError:
    """``error`` with ``why`` added in parentheses (same key)."""
    return ExperimentError(f"{str(error).removeprefix(f'{error.key} ')} ({why})", key=error.key)


def _request_resources(bundles: list[dict[str, float]]) -> None:
    """Ask the autoscaler (if any) to fit ``bundles`` now; an empty list withdraws the request."""
    from ray.autoscaler.sdk import request_resources  # heavy: Ray

    try:
        request_resources(bundles=bundles)
    except Exception as exc:  # only a hint: a cluster without an autoscaler ignores it
        logging.getLogger(__name__).debug("request_resources: %s", exc)


def infeasible(bundle: dict[str, float]) -> bool:
    """Whether the autoscaler reports ``bundle`` as one no node type can hold.

    Only Ray's autoscaler v2 reports that to the GCS (``AutoscalingState``); with v1 or no
    autoscaler this is always False and the wait runs to its end.
    """
    import ray  # heavy: Ray
    from ray._raylet import GcsClient
    from ray.core.generated.autoscaler_pb2 import GetClusterStatusReply

    try:
        reply = GetClusterStatusReply()
        gcs = GcsClient(ray.get_runtime_context().gcs_address)
        reply.ParseFromString(gcs.get_cluster_status(timeout_s=5))
    except Exception:  # no answer: keep waiting
        return False
    return bundle_in(reply.autoscaling_state, bundle)


def bundle_in(state, bundle: dict[str, float]) -> bool:
    """Whether an ``AutoscalingState`` lists ``bundle`` among its infeasible requests."""
    requests = [
        *state.infeasible_resource_requests,
        *(r.request for c in state.infeasible_cluster_resource_constraints for r in c.resource_requests),
    ]
    return any({k: v for k, v in r.resources_bundle.items() if v} == bundle for r in requests)
