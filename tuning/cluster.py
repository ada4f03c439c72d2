"""The Ray cluster: connect (or start a local one) and check a trial fits on it."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from tuning.config import ResourcesConfig
from tuning.errors import ExperimentError

ADDRESS_ENV = "RAY_ADDRESS"
CONNECT_TIMEOUT_S = 10.0  # how long an address may take to answer before the run stops


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
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray: its own defaults apply
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def connect(
    address: str | None = None, num_cpus: float | None = None, num_gpus: float | None = None
) -> Cluster:
    """Join the running Ray session, the cluster at ``address`` (or ``RAY_ADDRESS``), or start one.

    Joining a cluster starts no Ray process here; ``num_cpus``/``num_gpus`` size only a
    local Ray this starts.
    """
    import ray

    started = False
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
        ray.init(
            address=address or "local",
            include_dashboard=False,
            logging_level=logging.WARNING,
            configure_logging=True,
            **{k: v for k, v in kwargs.items() if v is not None},
        )
        started = not address
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
        started_here=started,
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
    return Cluster("this machine", 1, cpus, gpus, (cpus,), (gpus,), started_here=False)


def check_reachable(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse an address where no Ray cluster answers, within ``timeout`` seconds.

    ``ray.init(address=...)`` waits minutes for a head that does not answer. Ray's GCS and
    Ray Client ports speak gRPC: a server answers the HTTP/2 client preface with a SETTINGS
    frame at once, so a TCP connect and that one frame tell a live head from a wrong port,
    a closed one or a silent host. ``auto`` and ``local`` are Ray's own lookups.
    """
    if not address or address in ("auto", "local"):
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if "://" in target or not host or not port.isdigit():
        raise ExperimentError(f"must be host:port, ray://host:port or auto; got {address!r}", key="address")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_HTTP2_PREFACE)
            answer = b""
            while len(answer) < 9 and (chunk := sock.recv(9 - len(answer))):
                answer += chunk
    except TimeoutError:
        reason = "no answer"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    else:
        if len(answer) == 9 and answer[3] == 4:  # an HTTP/2 SETTINGS frame: gRPC answered
            return
        reason = "connection closed" if not answer else "it is not a Ray (gRPC) port"
    raise ExperimentError(
        f"must be a running Ray cluster; nothing answers at {address} within {timeout:g} s ({reason})",
        key="address",
    )


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def check_fits(cluster: Cluster, resources: ResourcesConfig) -> None:
    """Refuse a trial no node can hold, instead of leaving it pending forever."""
    if resources.num_cpus > max(cluster.node_cpus, default=0):
        raise ExperimentError(
            f"must be at most {max(cluster.node_cpus, default=0):g}, the most CPUs of any node "
            f"of this cluster; got {resources.num_cpus:g}",
            key="resources.num_cpus",
        )
    if resources.num_gpus > max(cluster.node_gpus, default=0):
        have = max(cluster.node_gpus, default=0)
        raise ExperimentError(
            f"must be at most {have:g}, the most GPUs of any node of this cluster"
            f"{' (it has none)' if not have else ''}; got {resources.num_gpus:g}",
            key="resources.num_gpus",
        )
    if cluster.slots(resources) < 1:
        raise ExperimentError(
            f"cannot be met together by any node: {resources.num_cpus:g} CPUs with "
            f"{resources.num_gpus:g} GPUs",
            key="resources",
        )
