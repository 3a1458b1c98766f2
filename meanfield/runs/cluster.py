"""Dask clients for sweeps: a new local cluster, or an existing scheduler."""
from __future__ import annotations

import contextlib
import os

from .config import ConfigError


@contextlib.contextmanager
def local_client(workers: int | None = None):
    """A dask Client on a new LocalCluster: one single-threaded process per core (or
    ``workers``), Numba/BLAS threads = cores // workers so workers never oversubscribe,
    no dashboard, listening on 127.0.0.1 only."""
    from dask.distributed import Client, LocalCluster

    cores = os.cpu_count() or 1
    n = workers or cores
    threads = str(max(1, cores // n))
    env = {name: threads for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                      "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, env=env) as cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def client(scheduler=None, workers: int | None = None):
    """A dask Client on ``scheduler`` ("tcp://HOST:PORT"), or on a new :func:`local_client`."""
    from dask.distributed import Client

    if scheduler:
        try:
            remote = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise ConfigError("scheduler", f"cannot connect to {scheduler}: "
                                           f"{(str(err).splitlines() or [''])[0]}") from None
        with remote:
            yield remote
        return
    with local_client(workers) as local:
        yield local
