"""Dask clients for sweeps: a new local cluster, or an existing scheduler."""
from __future__ import annotations

import contextlib
import os

from ..core.allocator import keep_freed_memory
from ..core.extras import require
from .config import ConfigError


@contextlib.contextmanager
def local_client(workers: int | None = None, dashboard: str | None = None):
    """A dask Client on a new LocalCluster: one single-threaded process per core (or
    ``workers``), Numba/BLAS threads = cores // workers so workers never oversubscribe,
    listening on 127.0.0.1 only. No dashboard unless ``dashboard`` ("HOST:PORT", e.g.
    "127.0.0.1:8787") asks for one there: the scheduler's HTTP endpoint (health checks)
    then takes a free port on 127.0.0.1, not the well-known 8787. The worker processes are
    meanfield's own, so they keep freed memory for the steps' large arrays
    (:func:`meanfield.core.allocator.keep_freed_memory`)."""
    distributed = require("dask.distributed", "sweeps")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    cores = os.cpu_count() or 1
    n = workers or cores
    threads = str(max(1, cores // n))
    env = {name: threads for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                      "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    http = {} if dashboard else {"scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=dashboard or None, env=env, **http) as cluster, \
            Client(cluster) as client:
        client.run(keep_freed_memory)
        yield client


@contextlib.contextmanager
def connect(scheduler: str):
    """A dask Client connected to an existing ``scheduler`` ("tcp://HOST:PORT");
    ConfigError with one line if it cannot be reached (within 10 s)."""
    Client = require("dask.distributed", "sweeps").Client

    try:
        remote = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise ConfigError("scheduler", f"cannot connect to {scheduler}: "
                                       f"{(str(err).splitlines() or [''])[0]}") from None
    with remote:
        yield remote


@contextlib.contextmanager
def client(scheduler=None, workers: int | None = None, dashboard: str | None = None):
    """A dask Client on ``scheduler`` ("tcp://HOST:PORT"), or on a new :func:`local_client`
    (with a dashboard only if ``dashboard`` gives its address)."""
    if scheduler:
        with connect(scheduler) as remote:
            yield remote
        return
    with local_client(workers, dashboard) as local:
        yield local
