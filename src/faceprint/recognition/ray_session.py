"""Ray plumbing for distributed enrollment: importing Ray, starting or joining a
cluster (failing fast on an unreachable address), quieting Ray Data's console, and
warning when an actor pool asks for more CPUs than the cluster has."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faceprint import errors
from faceprint.errors import ClusterUnavailableError, MissingDependencyError

log = logging.getLogger(__name__)

INSTALL = "pip install 'faceprint[ray]'"
PROBE_SECONDS = 5.0


def import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependencyError(
            f"distributed enrollment needs Ray Data, which is not installed: {INSTALL}"
        ) from exc
    return ray


@contextmanager
def ray_session(ray: Any, address: str | None, verbose: bool) -> Iterator[None]:
    """Ray initialised for the duration: the caller's session as it is, else started
    or joined at ``address`` (and shut down again at the end)."""
    if ray.is_initialized():
        yield
        return
    if address not in (None, "auto", "local"):
        _probe(address)
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=verbose,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, TimeoutError, RuntimeError) as exc:
        where = "a local Ray cluster" if address in (None, "local") else repr(address)
        raise ClusterUnavailableError(
            f"cannot start or join {where}: {exc}; start one with `ray start --head` "
            "and pass its address (auto, HOST:6379 or ray://HOST:10001)"
        ) from exc
    log.info("ray: connected to %s", address or "a local cluster")
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def ray_data_console(verbose: bool) -> Iterator[None]:
    """Ray Data logs each execution's plan and progress at INFO on the console; the
    caller reports progress itself, so unless ``verbose`` only its errors show for the
    duration."""
    logger = logging.getLogger("ray.data")
    level = logger.level
    if not verbose:  # (its one warning then is that progress bars are off)
        logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)


def _probe(address: str) -> None:
    """Fail fast (a few seconds) where Ray would retry for minutes: is anything
    listening at ``HOST:PORT`` / ``ray://HOST:PORT``?"""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise errors.UsageError(
            f"Ray address {address!r}: expected auto, local, HOST:PORT or ray://HOST:PORT"
        )
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise ClusterUnavailableError(
            f"cannot reach the Ray cluster at {address}: {exc}; check the address (the "
            "head's GCS port, 6379 by default, or ray://HOST:10001 for Ray Client) and "
            "that `ray start --head` runs there"
        ) from exc


def check_room(ray: Any, actors: int, cpus_per_actor: float) -> None:
    """Warn when the pool asks for more CPUs than the cluster has: Ray then waits for
    resources that never come (unless an autoscaler adds nodes)."""
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    wanted = actors * cpus_per_actor
    if wanted > cpus:
        log.warning(
            "ray: %d actors x %.2f CPUs = %.2f CPUs, but the cluster has %.2f; lower "
            "--ray-actors or --ray-cpus unless an autoscaler adds nodes",
            actors,
            cpus_per_actor,
            wanted,
            cpus,
        )
