"""The Chizat-Oyallon-Bach 2-D illustration, active versus lazy (theory §6).

Their setting (``illustration.jl``): d = 2, a teacher y = sum_j c*_j (a*_j . x)_+ of 3
neurons a*_j uniform on the circle with c*_j = +-1, 15 training and 20 test points
uniform on the circle, m = 16 students with a_i uniform on the circle and c_i ~ U[0, 1],
symmetrised (second half copies a and negates c, so f(w0) = 0), all multiplied by the
scale tau; gradient descent with step 0.005 for 1e5 iterations on
F(w) = (1/2n) sum_k (sum_i c_i (a_i . x_k)_+ - y_k)^2.

Conversion to our alpha family (theory §1): f = (alpha/m) sum_i c_i sigma(a_i . x) equals
their sum when alpha = m ("sum"), and likewise the teacher has alpha = m0 = 3. Our
objective is R/alpha^2 = R/m^2 and our velocity -m grad_{w_i}(R/m^2) = -(1/m) grad_{w_i} R,
while their step moves w_i by -eta grad_{w_i} R. One of their steps is therefore our
Euler step dt = m eta = 16 x 0.005 = 0.08, and their 1e5 iterations are t_end = 8000.
By 2-homogeneity (theory §1) the init scale tau is equivalent to alpha = tau^2 on unit
particles: small tau is the active (mean-field) regime, large tau the lazy one.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from ..plots.figures import save
from ..plots.neurons import extent_of
from ..plots.runs import animate, loss_figure, trajectory_figure
from ..runs import store
from ..runs.batch import run_configs
from ..runs.config import Config

COB_STEP, COB_ITERATIONS, M = 0.005, 100_000, 16
SCALES = {"active": 0.1, "lazy": 2.0}
DEMO_SEED = 19  # a draw whose three teacher neurons are well spread and of mixed signs


def demo_config(tau: float, seed: int = DEMO_SEED, backend: str = "auto") -> Config:
    """The COB illustration at init scale ``tau`` in our units (module docstring)."""
    return Config.from_dict({
        "task": "teacher-student", "d": 2, "seed": seed, "backend": backend,
        "teacher": {"m": 3, "activation": "relu", "sphere": True, "output": "sign",
                    "alpha": "sum"},
        "student": {"m": M, "activation": "relu", "alpha": "sum",
                    "init": {"tau": tau, "symmetric": True, "sphere": True,
                             "output": "uniform"}},
        "objective": {"kind": "empirical", "inputs": "sphere", "n_train": 15, "n_test": 20},
        "integrator": {"name": "euler", "dt": M * COB_STEP},
        "t_end": M * COB_STEP * COB_ITERATIONS,
        "record": {"schedule": "log", "n": 100},
        "checkpoint": {"every_seconds": 30.0}})


#: seconds to wait for the child drawing beside this process before drawing here instead
CHILD_WAIT_S = 120.0


def beside(work: Callable[[], object]) -> Callable[[], None]:
    """Start ``work()`` in a forked child process, beside this one (the GIF is drawn
    while this process draws the PNGs: about half the figures' wall time on two cores),
    and return the function that waits for it. Where the platform cannot fork or has
    one core, or where the child fails or outlasts CHILD_WAIT_S, ``work`` runs in this
    process when waited for, so the files and any error are the same as drawing in
    order. The child ignores SIGINT (this process handles it) and prints nothing.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "drawn"
    >>> wait = beside(path.touch)
    >>> wait()
    >>> path.exists()
    True
    """
    if "fork" not in multiprocessing.get_all_start_methods() or (os.cpu_count() or 1) < 2:
        return _run_here(work)
    child = multiprocessing.get_context("fork").Process(target=_child, args=(work,),
                                                         daemon=True)
    child.start()

    def wait() -> None:
        child.join(CHILD_WAIT_S)
        if child.is_alive():        # never hang on a stuck child: draw it here instead
            child.kill()
            child.join()
        if child.exitcode != 0:
            work()
    return wait


def _run_here(work: Callable[[], object]) -> Callable[[], None]:
    def wait() -> None:
        work()
    return wait


def _child(work: Callable[[], object]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        work()
    except BaseException:  # noqa: BLE001 - the parent draws it again and reports
        os._exit(1)
    os._exit(0)


def run_demo(out_dir="demo", seed: int = DEMO_SEED, backend: str = "auto",
             progress: bool | None = None, log=print, frames: int = 12) -> list[Path]:
    """Run the active and lazy illustrations into out_dir/{active,lazy} (run directories)
    as one ensemble of two members (one (2, m, p) array per Euler step) and write
    active.png, lazy.png, loss.png and demo.gif (``frames`` frames); returns
    the figure paths. The default backend, "auto", chooses from the problem's sizes:
    at m = 16, n = 15, d = 2 (float64 relu) the Numba lanes kernels, whose fused Euler
    steps advance a block of up to 4096 steps per compiled call (the same bits as
    stepping one by one)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in SCALES:  # our own earlier demo runs; never a foreign folder
        if store.has_marker(out / name):
            shutil.rmtree(out / name)
    began = time.monotonic()
    configs = [demo_config(tau, seed, backend) for tau in SCALES.values()]
    results = dict(zip(SCALES, run_configs(configs, [out / name for name in SCALES]), strict=False))
    log(f"both runs ({COB_ITERATIONS:,} Euler steps each, one ensemble): "
        f"{time.monotonic() - began:.1f} s")
    for name, result in results.items():
        log(f"{name:>6} (tau = {SCALES[name]:g}): train risk "
            f"{result.trajectory.risk[-1]:.2e}, test risk {result.trajectory.test_risk[-1]:.2e}")
    began = time.monotonic()
    teacher = results["active"].teacher
    panels = [(f"{n} (τ = {SCALES[n]:g})", r.trajectory.snapshots, r.trajectory.final,
               r.trajectory.times) for n, r in results.items()]
    gif = beside(lambda: animate(panels, teacher, out / "demo", max_frames=frames))
    extent = extent_of([(r.trajectory.snapshots, r.trajectory.final)
                        for r in results.values()], teacher)  # one for both panels
    written = []
    for name, result in results.items():
        traj = result.trajectory
        title = f"{name}: τ = {SCALES[name]:g}, m = {M}, t = 0 … {traj.times[-1]:g}"
        written += save(trajectory_figure(traj.snapshots, traj.final, teacher, title,
                                          extent=extent, zoom=1.1), out / name,
                        formats=("png",))
    curves = [(f"{n} (τ = {SCALES[n]:g})", r.trajectory.times, r.trajectory.risk,
               r.trajectory.test_risk) for n, r in results.items()]
    written += save(loss_figure(curves), out / "loss", formats=("png",))
    gif()
    written.append((out / "demo").with_suffix(".gif"))
    log(f"figures and GIF: {time.monotonic() - began:.1f} s")
    return written
