"""Benchmarks of the backends (issue 4), each against a limit measured in the same run.

1. Population ReLU velocity, float64, d = 100, m students + 5 teachers: median time of
   one ``GaussianPopulation.velocity`` and its ratio to the two BLAS products that bound
   it (A_t A_s^T, m x d by d x m, then the m x m tile times A_s).
2. The same at d = 2: pair interactions (m (m + 5)) per second.
3. Empirical ReLU velocity, float32, m = 1000, n = 10000, at d = 100 and d = 2, against
   one full-batch PyTorch autograd gradient step (skipped when torch is absent).
4. Peak memory of one population velocity at m = 32768, d = 100, in a subprocess
   (Linux high-water mark VmHWM, reset before the call, minus VmRSS before it).
5. Population velocity time against m (should grow like m^2).
6. Mixed pairs: population velocity of a ReLU student (m, d = 10, biases) against a tanh
   teacher of m units, and its ratio to the same with a ReLU teacher (closed form).

Every backend runs once before it is timed (Numba and KeOps compile there, never inside
the timed loop). ``main`` prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from ..backends import cuda_available, get_backend
from ..model import Network
from ..objectives import Empirical, GaussianPopulation

COMMAND = "python scripts/bench.py"


def _median_time(fn, repeat: int, budget: float = 20.0) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs (fewer when one run is slow)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if sum(times) > budget:
            break
    return float(np.median(times))


def _population(m: int, d: int, backend: str, dtype=np.float64):
    teacher = Network.init(5, d, "relu", seed=1, dtype=dtype)
    net = Network.init(m, d, "relu", seed=2, dtype=dtype)
    return GaussianPopulation(teacher, backend=backend), net


def blas_limit(m: int, d: int, repeat: int) -> float:
    """Median time of the two products that bound a population velocity (float64)."""
    rng = np.random.default_rng(0)
    a_t, a_s = rng.standard_normal((m, d)), rng.standard_normal((m + 5, d))

    def products():
        return (a_t @ a_s.T) @ a_s

    products()
    return _median_time(products, repeat)


def population_time(m: int, d: int, backend: str, repeat: int) -> float:
    """Median time of one population velocity (after one untimed warm-up call)."""
    pop, net = _population(m, d, backend)
    pop.velocity(net)
    return _median_time(lambda: pop.velocity(net), repeat)


def _empirical(d: int, m: int, n: int):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    teacher = Network.init(5, d, "relu", seed=1, dtype=np.float32)
    return X, teacher(X), Network.init(m, d, "relu", seed=2, dtype=np.float32)


def empirical_time(d: int, m: int, n: int, backend: str, repeat: int) -> float:
    """Median time of one empirical velocity, float32."""
    X, y, net = _empirical(d, m, n)
    emp = Empirical(X, y, backend=backend)
    emp.velocity(net)
    return _median_time(lambda: emp.velocity(net), repeat)


def torch_step_time(d: int, m: int, n: int, repeat: int) -> float | None:
    """Median time of a full-batch autograd gradient of 1/2 mean (f - y)^2, or None."""
    try:
        import torch
    except ImportError:
        return None
    X, y, net = _empirical(d, m, n)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(np.asarray(y, dtype=np.float32))
    c = torch.from_numpy(net.c.copy()).requires_grad_()
    a = torch.from_numpy(net.a.copy()).requires_grad_()

    def step():
        c.grad = a.grad = None
        f = torch.relu(Xt @ a.T) @ c / m
        loss = 0.5 * ((f - yt) ** 2).sum(dim=1).mean()
        loss.backward()

    step()
    return _median_time(step, repeat)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def memory_child(backend: str, m: int, d: int) -> dict:
    """Run in a fresh process: peak RSS added by one population velocity (MB).

    The kernel's high-water mark is reset first (``/proc/self/clear_refs``, Linux), so
    the compile peaks before the call do not hide it: peak = VmHWM after - VmRSS before.
    """
    pop, small = _population(64, d, backend)
    pop.velocity(small)  # compile outside the measurement
    pop, net = _population(m, d, backend)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    pop.velocity(net)
    seconds = time.perf_counter() - start
    after = _status_kb("VmHWM")
    return {"peak_mb": (after - before) / 1024.0, "seconds": seconds,
            "particles_mb": net.w.nbytes / 2**20}


def peak_memory(backend: str, m: int, d: int) -> dict:
    """:func:`memory_child` in a subprocess (so earlier peaks do not hide this one)."""
    code = ("import json, meanfield.experiments.bench as b; "
            f"print(json.dumps(b.memory_child({backend!r}, {m}, {d})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def mixed_pair_times(m: int, d: int, backend: str, repeat: int, smooth: str = "tanh"):
    """Median times of one population velocity of a ReLU student (m units, biases, input
    weights ~ N(0, I_d/d) so that pre-activations are O(1)) against a teacher of m
    ``smooth`` units, and against a teacher of m ReLU units (closed form); theory §2.5."""
    tau = {"a": 1.0 / np.sqrt(d)}
    net = Network.init(m, d, "relu", bias=True, tau=tau, seed=2)
    times = []
    for act in (smooth, "relu"):
        teacher = Network.init(m, d, act, bias=True, tau=tau, seed=1)
        pop = GaussianPopulation(teacher, backend=backend)
        pop.velocity(net)
        times.append(_median_time(lambda: pop.velocity(net), repeat))
    return tuple(times)


def _warm(backends):
    if "keops" in backends:
        from ..backends import keops

        for d in (2, 100):
            keops.warmup(d, ("float64",), activations=(), pair=True)
            keops.warmup(d, ("float32",), activations=("relu",), pair=False)


def run(backends, repeat: int = 5, quick: bool = False, log=print) -> list[dict]:
    """Run all benchmarks; returns rows {bench, backend, time, reference, result, target}."""
    m, n_emp, sizes, m_mem = 4096, 10000, [1024, 2048, 4096, 8192, 16384, 32768], 32768
    if quick:
        m, n_emp, sizes, m_mem = 1024, 2000, [256, 512, 1024, 2048], 4096
    _warm(backends)
    rows = []

    def add(**row):
        rows.append(row)
        log(" | ".join(str(v) for v in row.values()))

    limit = blas_limit(m, 100, repeat)
    for b in backends:
        t = population_time(m, 100, b, 3 if b != "numba" else repeat)
        add(bench=f"1. population relu f64 d=100 m={m}", backend=b, time=t,
            reference=f"2 BLAS products {limit:.3f} s", result=f"ratio {t / limit:.2f}",
            target="ratio <= 2")
    for b in backends:
        t = population_time(m, 2, b, 3 if b != "numba" else repeat)
        add(bench=f"2. population relu f64 d=2 m={m}", backend=b, time=t, reference="-",
            result=f"{m * (m + 5) / t:.3g} pairs/s", target=">= 2e8 pairs/s")
    for d, target in ((100, 2), (2, 5)):
        ref = torch_step_time(d, 1000, n_emp, repeat)
        for b in backends:
            t = empirical_time(d, 1000, n_emp, b, 3 if b != "numba" else repeat)
            if ref is None:
                add(bench=f"3. empirical relu f32 d={d} m=1000 n={n_emp}", backend=b, time=t,
                    reference="torch not installed: baseline skipped", result="-",
                    target=f">= {target}x faster")
            else:
                add(bench=f"3. empirical relu f32 d={d} m=1000 n={n_emp}", backend=b, time=t,
                    reference=f"torch autograd step {ref:.4f} s",
                    result=f"{ref / t:.2f}x faster", target=f">= {target}x faster")
    auto = get_backend("auto").name
    mem = peak_memory(auto, m_mem, 100)
    add(bench=f"4. peak memory, population velocity d=100 m={m_mem}", backend=auto,
        time=mem["seconds"], reference=f"particles {mem['particles_mb']:.1f} MB",
        result=f"{mem['peak_mb']:.0f} MB", target="< 500 MB")
    base = None
    for size in sizes:
        t = population_time(size, 100, auto, 1 if size > 4096 else 3)
        base = base or t / size**2
        add(bench=f"5. time vs m, population relu f64 d=100 m={size}", backend=auto, time=t,
            reference="-", result=f"t/m^2 = {t / size**2 / base:.2f} x (m={sizes[0]})",
            target="~ m^2")
    m_mix = 256 if quick else 1024
    mixed, same = mixed_pair_times(m_mix, 10, "numba", 3)
    add(bench=f"6. mixed pairs: population velocity relu student x tanh teacher, bias, "
        f"d=10 m=m0={m_mix}", backend="numba", time=mixed,
        reference=f"relu teacher (closed form) {same:.3f} s", result=f"ratio {mixed / same:.1f}",
        target="small factor")
    return rows


def markdown(rows, machine: str) -> str:
    """The rows as a Markdown table headed by the machine label and the command."""
    lines = [f"Machine: {machine}. Regenerate with `{COMMAND}` (or `meanfield bench`).", "",
             "| benchmark | backend | median time (s) | reference | result | target |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['bench']} | {r['backend']} | {r['time']:.4f} | {r['reference']} "
                     f"| {r['result']} | {r['target']} |")
    return "\n".join(lines)


HELP = "time the backends against their limits (issue 4) and print a Markdown table"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` arguments to ``parser`` (used by ``meanfield bench`` too)."""
    parser.add_argument("--backends", default="numba,keops,numpy",
                        help="comma-separated backends to time (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per median")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--machine", default=None,
                        help="machine label above the table (default: cores, GPU, load)")


def handler(args: argparse.Namespace, extra=()) -> int:
    """Run the benchmarks for parsed ``args``; one-line error and status 2 on bad input."""
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        try:
            get_backend(b)
        except (ValueError, ImportError) as exc:
            print(f"meanfield: error: backend {b!r} unavailable: {exc}", file=sys.stderr)
            return 2
    if args.repeat < 1 or not backends:
        print("meanfield: error: need --repeat >= 1 and at least one backend", file=sys.stderr)
        return 2
    gpu = "GPU" if cuda_available() else "no GPU"
    load = os.getloadavg()[0]
    rows = run(backends, repeat=args.repeat, quick=args.quick,
               log=lambda s: print(s, file=sys.stderr, flush=True))
    machine = args.machine or (f"{os.cpu_count()} cores, {gpu} (load average {load:.1f} at "
                               f"start, {os.getloadavg()[0]:.1f} at end)")
    print(markdown(rows, machine))
    return 0


def main(argv=None) -> int:
    """``python scripts/bench.py [args]``: the same as ``meanfield bench [args]``."""
    parser = argparse.ArgumentParser(prog="meanfield bench", description=HELP)
    configure(parser)
    return handler(parser.parse_args(argv))
