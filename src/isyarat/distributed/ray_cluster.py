"""Where Ray work runs: a cluster at an address, or a local Ray started (and stopped) for one command.

Ray is optional: it is imported only when a command asks for it, so the local process pool
stays the default and isyarat runs without Ray installed."""
from __future__ import annotations

import logging
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from isyarat.errors import IsyaratError

LOCAL = "local"
# host:port of a head node (ray start --head), ray://host:port (Ray Client) or "auto" (a cluster
# already started on this machine).
_ADDRESS = re.compile(r"^(auto|ray://[\w.\-]+:\d{1,5}|[\w.\-]+:\d{1,5})$")
# The object store of a local Ray: small, tasks only pass file lists and landmark arrays.
LOCAL_OBJECT_STORE = 200 * 1024 * 1024


@dataclass(frozen=True)
class RayTarget:
    """`address` None starts a local Ray with `num_cpus` CPUs (None: all of them); otherwise
    the driver connects to the running cluster at `address` and uses all of its CPUs."""

    address: str | None = None
    num_cpus: int | None = None

    @classmethod
    def parse(cls, value: str | None, workers: int | None = None) -> "RayTarget":
        """`--ray` given alone (value "local") or with an ADDRESS; one-line error when malformed."""
        if value is None or value == LOCAL:
            if workers is not None and workers < 1:
                raise IsyaratError(f"--workers must be 1 or more, got {workers}")
            return cls(None, workers)
        if not _ADDRESS.match(value):
            raise IsyaratError(f"--ray {value}: not a Ray address; give HOST:PORT of the head node (e.g. "
                               "10.0.0.5:6379), ray://HOST:10001, auto, or --ray alone for a local Ray "
                               "(put --ray after the dataset, or write --ray=ADDRESS)")
        return cls(value, None)

    def describe(self) -> str:
        return f"Ray cluster at {self.address}" if self.address else "local Ray"


def _ray():
    try:
        import ray
    except ImportError as err:
        raise IsyaratError("--ray needs the ray package: pip install 'ray==2.60.0' (or drop --ray to use "
                           "local worker processes)") from err
    return ray


@contextmanager
def ray_session(target: RayTarget) -> Iterator[object]:
    """The `ray` module, connected to `target`. A Ray already initialized in this process (a test,
    a notebook) is used as it is and left running; one started here is shut down at the end."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                   configure_logging=True)
    try:
        if target.address:
            ray.init(address=target.address, **options)
        else:
            # "local": a new instance, even when RAY_ADDRESS or an earlier `ray start` points elsewhere
            ray.init(address=LOCAL, num_cpus=target.num_cpus, object_store_memory=LOCAL_OBJECT_STORE, **options)
    except Exception as err:  # ConnectionError, RuntimeError, auth errors: all mean "no cluster there"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IsyaratError(f"cannot start or reach {target.describe()} ({first}); check the address, that "
                           "the cluster runs the same Ray and Python versions, and RAY_AUTH_TOKEN when the "
                           "cluster uses token authentication") from err
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray) -> int:
    """CPUs the connected cluster offers (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_line(ray) -> str:
    """'2 nodes, 8 CPUs' for the progress line, so a user sees where the work goes."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, {cluster_cpus(ray)} CPUs"


def node_counts(nodes: list[str]) -> str:
    """'node a1b2c3: 5 files, node d4e5f6: 7 files' from the node id of every finished task."""
    return ", ".join(f"node {node[:6]}: {count}" for node, count in sorted(Counter(nodes).items()))
