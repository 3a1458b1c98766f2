"""Benchmark groups "backends" (lines 1-5), "small" (6a-6e) and "mixed" (7) of ``meanfield
bench``, each line against a limit measured in the same run (the groups, their command
line and the other groups' modules: :mod:`benchmarks.groups`).

1. Population ReLU velocity, float64, d = 100, m students + 5 teachers: median time of
   one ``GaussianPopulation.velocity`` and its ratio to the two BLAS products that bound
   it (A_t A_s^T, m x d by d x m, then the m x m tile times A_s), timed interleaved with
   it on as many threads as the velocity may use (Numba's count, named in the line): the
   faster of BLAS's own threads and one-thread row blocks run at once.
2. The same at d = 2: pair interactions (m (m + 5)) per second.
3. Empirical ReLU velocity, float32, m = 1000, n = 10000, at d = 100 and d = 2, against
   one full-batch PyTorch autograd gradient step on torch's threads (named in the line),
   timed interleaved with it (skipped when torch is absent).
Lines 1 and 3 give the 1-minute load average after their runs (a loaded machine slows
both sides of a ratio, not always alike).
4. Peak memory of one population velocity at m = 32768, d = 100, in a subprocess
   (Linux high-water mark VmHWM, reset before the call, minus VmRSS before it).
5. Population velocity time against m (should grow like m^2).
6. Many small runs (issue 15), each a ratio measured in the same process, runs
   interleaved, median of several:
   a. ``simulate`` at the demo size (m = 16, d = 2, n = 15, Euler, NumPy) per step against
      a hand-written NumPy loop of the same math (target <= 1.5);
   b. an ensemble of S = 64 demo-size runs (``simulate_many`` on "auto": the lanes
      kernels), per member-step, against serial ``simulate`` on NumPy, the demo's backend
      (target >= 30x; serial ``simulate`` on "auto" is reported beside it);
   c. an ensemble at the Chizat-Oyallon-Bach size (m = 50, d = 100, n = 1000), S = 18,
      against serial ``simulate`` (target >= 2.5x): 18 seeds (18 training sets), and 18
      init scales sharing one training set (as a sweep's cells of one seed);
   d. an ensemble of population ReLU runs (d = 10, m = 100, 5 teacher neurons), S = 10,
      against serial ``simulate`` (target >= 3x);
   e. tiny sizes: one velocity on "auto" against "numpy", idle and while another process
      keeps one core busy (target <= 1.2).
7. Mixed pairs: population velocity of a ReLU student (m, d = 10, biases) against a tanh
   teacher of m units, and its ratio to the same with a ReLU teacher (closed form).

Every backend runs once before it is timed (Numba and KeOps compile there, never inside
the timed loop). Each group's function returns rows {bench, backend, time, reference,
result, target}; :func:`markdown` prints them as the one table of every group.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from meanfield.backends import get_backend
from meanfield.model.network import Network
from meanfield.objectives.teacher_student import Empirical, GaussianPopulation

COMMAND = "meanfield bench"


def row_adder(rows: list, log):
    """``add(**row)``: append ``row`` to ``rows`` and ``log`` it as one line."""
    def add(**row):
        rows.append(row)
        log(" | ".join(str(v) for v in row.values()))
    return add


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


def bound_products(m: int, d: int, threads: int):
    """The two float64 products that bound a population velocity (A_t A_s^T, m x d by
    d x (m + 5), then that times A_s) as two functions of no argument returning the
    (m, d) result, each using ``threads`` threads: BLAS's own threads (threadpoolctl), and
    ``threads`` row blocks of A_t, each on one BLAS thread, run at once (the way the
    Numba backend splits its tiles)."""
    from threadpoolctl import threadpool_limits

    from meanfield.backends.blas import pinned
    from meanfield.backends.numba.common import share

    rng = np.random.default_rng(0)
    a_t, a_s = rng.standard_normal((m, d)), rng.standard_normal((m + 5, d))
    bounds = np.linspace(0, m, threads + 1).round().astype(int)

    def blas():
        with threadpool_limits(limits=threads, user_api="blas"):
            return (a_t @ a_s.T) @ a_s

    def blocks():
        out = np.empty((m, d))

        def block(i):
            rows = slice(bounds[i], bounds[i + 1])
            out[rows] = (a_t[rows] @ a_s.T) @ a_s

        with pinned(1):
            share(block, threads, threads)
        return out

    return blas, blocks


def population_vs_bound(m: int, d: int, backend: str, repeat: int) -> tuple[float, float, int]:
    """(median time of one population velocity, median time of its two-product bound,
    threads), interleaved. The bound runs on as many threads as the velocity may use
    (Numba's count) and is the faster of BLAS's own threads and one-thread row blocks:
    the in-process BLAS peak on those threads."""
    from numba import get_num_threads

    threads = get_num_threads()
    pop, net = _population(m, d, backend)
    times = _interleaved([lambda: pop.velocity(net), *bound_products(m, d, threads)],
                         repeat)
    return times[0], min(times[1:]), threads


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


def torch_step(d: int, m: int, n: int):
    """A full-batch autograd gradient of 1/2 mean (f - y)^2 as a function of no
    argument (torch's own threads: all cores by default), or None without torch."""
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

    return step


def empirical_vs_torch(d: int, m: int, n: int, backend: str, repeat: int):
    """(median time of one empirical velocity, float32, and of a torch autograd step, or
    None without torch), interleaved."""
    X, y, net = _empirical(d, m, n)
    emp = Empirical(X, y, backend=backend)
    step = torch_step(d, m, n)
    fns = [lambda: emp.velocity(net)] + ([] if step is None else [step])
    times = _interleaved(fns, repeat)
    return times[0], (times[1] if step is not None else None)


def torch_threads() -> int | None:
    """torch's intra-op thread count, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


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
    code = ("import json, benchmarks.bench as b; "
            f"print(json.dumps(b.memory_child({backend!r}, {m}, {d})))")
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root)
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
        times.append(_median_time(lambda pop=pop: pop.velocity(net), repeat))
    return tuple(times)


def _warm(backends):
    if "keops" in backends:
        from meanfield.backends.keops import backend as keops

        for d in (2, 100):
            keops.warmup(d, ("float64",), activations=(), pair=True)
            keops.warmup(d, ("float32",), activations=("relu",), pair=False)


def run(backends, repeat: int = 5, quick: bool = False, log=print) -> list[dict]:
    """Group "backends" (lines 1-5); rows {bench, backend, time, reference, result, target}."""
    m, n_emp, sizes, m_mem = 4096, 10000, [1024, 2048, 4096, 8192, 16384, 32768], 32768
    if quick:
        m, n_emp, sizes, m_mem = 1024, 2000, [256, 512, 1024, 2048], 4096
    _warm(backends)
    rows = []
    add = row_adder(rows, log)

    for b in backends:
        t, limit, threads = population_vs_bound(m, 100, b, 3 if b != "numba" else repeat)
        add(bench=f"1. population relu f64 d=100 m={m}", backend=b, time=t,
            reference=f"2 BLAS products on {threads} threads {limit:.3f} s{_idle_note()}",
            result=f"ratio {t / limit:.2f}", target="ratio <= 1.6")
    for b in backends:
        t = population_time(m, 2, b, 3 if b != "numba" else repeat)
        add(bench=f"2. population relu f64 d=2 m={m}", backend=b, time=t, reference="-",
            result=f"{m * (m + 5) / t:.3g} pairs/s", target=">= 2e8 pairs/s")
    for d, target in ((100, 2.5), (2, 5)):
        for b in backends:
            t, ref = empirical_vs_torch(d, 1000, n_emp, b, 3 if b != "numba" else repeat)
            if ref is None:
                add(bench=f"3. empirical relu f32 d={d} m=1000 n={n_emp}", backend=b, time=t,
                    reference="torch not installed: baseline skipped", result="-",
                    target=f">= {target}x faster")
            else:
                add(bench=f"3. empirical relu f32 d={d} m=1000 n={n_emp}", backend=b, time=t,
                    reference=f"torch autograd step on {torch_threads()} threads {ref:.4f} s"
                              f"{_idle_note()}",
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
    return rows


def run_mixed(repeat: int = 3, quick: bool = False, log=print) -> list[dict]:
    """Group "mixed" (line 7), on Numba, median of at most 3 runs (a velocity takes
    seconds at full size); rows as :func:`run`."""
    rows = []
    m_mix = 256 if quick else 1024
    mixed, same = mixed_pair_times(m_mix, 10, "numba", min(repeat, 3))
    row_adder(rows, log)(
        bench=f"7. mixed pairs: population velocity relu student x tanh teacher, bias, "
              f"d=10 m=m0={m_mix}", backend="numba", time=mixed,
        reference=f"relu teacher (closed form) {same:.3f} s", result=f"ratio {mixed / same:.1f}",
        target="small factor")
    return rows


def demo_problem(seed: int = 19):
    """The demo's active run (m = 16, d = 2, n = 15, Euler dt = 0.08, NumPy)."""
    from meanfield.experiments.demo import demo_config
    from meanfield.runs.run import build

    return build(demo_config(0.1, seed))


def hand_loop(net, X, y, dt: float, steps: int) -> np.ndarray:
    """Euler on the square loss of a relu network without bias, k = 1, written out in
    NumPy: the same math as ``simulate`` on the demo problem, none of its machinery."""
    w = net.w.copy()
    m, alpha, n = len(w), net.alpha, len(X)
    XT = np.ascontiguousarray(X.T)
    for _ in range(steps):
        c, a = w[:, :1], w[:, 1:]
        Z = a @ XT
        S = np.maximum(Z, 0.0)
        R = (S.T @ (c * (alpha / m)) - y) / n
        g = np.empty_like(w)
        g[:, :1] = S @ R
        g[:, 1:] = ((Z > 0) * (c @ R.T)) @ X
        w = w - dt * g / alpha
    return w


def _interleaved(fns, repeat: int) -> list[float]:
    """Median wall time of each function, the functions run in turn ``repeat`` times."""
    times = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def overhead_bench(steps: int, repeat: int) -> tuple[float, float]:
    """(simulate, hand loop) seconds per step at the demo size, NumPy."""
    from meanfield.dynamics.integrators import euler
    from meanfield.dynamics.trajectory import LogSchedule, simulate

    p = demo_problem()
    net, obj, dt = p.student, p.objective, p.integrator.params["dt"]
    sim, hand = _interleaved(
        [lambda: simulate(net, obj, euler(dt), dt * steps, record=LogSchedule(100)),
         lambda: hand_loop(net, obj.X, obj.y, dt, steps)], repeat)
    return sim / steps, hand / steps


def _ensemble_ratio(nets, objectives, integrator, steps, repeat, record, serial=()):
    """(ensemble seconds per member-step, serial simulate seconds per step, and the same
    for each further objective of member 0 in ``serial``), the runs interleaved."""
    from meanfield.dynamics.trajectory import simulate, simulate_many

    dt = integrator.params["dt"]
    times = _interleaved(
        [lambda: simulate_many(nets, objectives, integrator, dt * steps, record=record)] +
        [lambda o=o: simulate(nets[0], o, integrator, dt * steps, record=record)
         for o in (objectives[0], *serial)], repeat)
    return (times[0] / (len(nets) * steps), *(t / steps for t in times[1:]))


def demo_ensemble_bench(S: int, steps: int, repeat: int, backend: str = "auto",
                        serial_backend: str = "numpy"):
    """S demo-size runs (different seeds: own teacher, data, init) as one ensemble on
    ``backend``; (ensemble per member-step, serial simulate per step on
    ``serial_backend``, serial simulate per step on ``backend``)."""
    from meanfield.dynamics.integrators import euler
    from meanfield.objectives.teacher_student import Empirical
    from meanfield.dynamics.trajectory import LogSchedule

    problems = [demo_problem(seed) for seed in range(S)]
    objs = [Empirical(p.objective.X, p.objective.y, backend=backend) for p in problems]
    serial = Empirical(problems[0].objective.X, problems[0].objective.y,
                       backend=serial_backend)
    ens, same, other = _ensemble_ratio([p.student for p in problems], objs, euler(0.08),
                                       steps, repeat, LogSchedule(100), serial=[serial])
    return ens, other, same


def cob_ensemble_bench(S: int, steps: int, repeat: int, backend: str = "auto",
                       shared: bool = False):
    """S Chizat-Oyallon-Bach runs (m = 50, d = 100, n = 1000) as one ensemble: seeds 0..S-1
    at tau = 0.1, or (``shared``) S init scales tau in [0.05, 0.2] sharing seed 0's
    training set (as the cells of one seed in the tau sweep)."""
    from meanfield.experiments import lazy_vs_scale as ls
    from meanfield.objectives.teacher_student import Empirical
    from meanfield.runs.config import Config
    from meanfield.runs.run import build
    from meanfield.dynamics.trajectory import LogSchedule

    config = ls.base_config(steps)
    config["backend"] = backend
    config["integrator"]["dt"] = ls.M * ls.gd_step(0.1)
    taus = np.geomspace(0.05, 0.2, S) if shared else np.full(S, 0.1)
    problems = []
    for s, tau in enumerate(taus):
        cell = {**config, "seed": 0 if shared else s,
                "student": {**config["student"],
                            "init": {**config["student"]["init"], "tau": float(tau)}}}
        problems.append(build(Config.from_dict(cell)))
    objectives = [p.objective for p in problems]
    if shared:  # one training set object: the ensemble stacks its products
        objectives = [Empirical(objectives[0].X, objectives[0].y, backend=backend)] * S
    return _ensemble_ratio([p.student for p in problems], objectives,
                           problems[0].integrator, steps, repeat, LogSchedule(20))


def population_ensemble_bench(S: int, steps: int, repeat: int, backend: str = "auto"):
    """S population ReLU runs (d = 10, m = 100, 5 teacher neurons, Euler) as one ensemble."""
    from meanfield.dynamics.integrators import euler
    from meanfield.dynamics.trajectory import LogSchedule

    nets, objs = [], []
    for s in range(S):
        teacher = Network.init(5, 10, "relu", seed=100 + s)
        objs.append(GaussianPopulation(teacher, backend=backend))
        nets.append(Network.init(100, 10, "relu", seed=s))
    return _ensemble_ratio(nets, objs, euler(0.01), steps, repeat, LogSchedule(20))


def _idle_note() -> str:
    """"; load L" (the 1-minute load average, where the system gives one): every
    multi-threaded line's speed depends on it (1, 3, 6c, 6d)."""
    try:
        return f"; load {os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return ""


def _busy_core():
    """A process that keeps one core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def tiny_bench(repeat: int) -> list[tuple[str, float, float, float, float]]:
    """Tiny velocities on "auto" and "numpy", idle and with a busy core: rows (size,
    auto idle, numpy idle, auto busy, numpy busy), seconds per velocity."""
    cases = []
    p = demo_problem()
    emp = {b: Empirical(p.objective.X, p.objective.y, backend=b) for b in ("auto", "numpy")}
    cases.append(("empirical m=16 d=2 n=15", lambda b: emp[b].velocity(p.student)))
    for m, d in ((16, 2), (64, 3)):
        teacher = Network.init(5, d, "relu", seed=1)
        pops = {b: GaussianPopulation(teacher, backend=b) for b in ("auto", "numpy")}
        net = Network.init(m, d, "relu", seed=2)
        cases.append((f"population m={m} d={d}",
                       lambda b, pops=pops, net=net: pops[b].velocity(net)))
    rows = []
    for label, call in cases:
        inner = 200

        def timed(b, call=call, inner=inner):
            return lambda: [call(b) for _ in range(inner)]

        idle = _interleaved([timed("auto"), timed("numpy")], max(repeat, 9))
        busy_proc = _busy_core()
        try:
            busy = _interleaved([timed("auto"), timed("numpy")], max(repeat, 9))
        finally:
            busy_proc.kill()
            busy_proc.wait()
        rows.append((label, *(t / inner for t in (*idle, *busy))))
    return rows


def run_small(repeat: int = 5, quick: bool = False, log=print) -> list[dict]:
    """Benchmark group 6 (many small runs); rows as :func:`run`."""
    rows = []

    def add(**row):
        rows.append(row)
        log(" | ".join(str(v) for v in row.values()))

    steps = 2000 if quick else 20_000
    sim, hand = overhead_bench(steps, repeat)
    add(bench="6a. simulate, demo size (m=16 d=2 n=15 Euler)", backend="numpy", time=sim,
        reference=f"hand-written NumPy loop {hand * 1e6:.1f} us/step",
        result=f"ratio {sim / hand:.2f}", target="ratio <= 1.5")
    S = 64
    ens, one, same = demo_ensemble_bench(S, 500 if quick else 5000, repeat)
    add(bench=f"6b. ensemble S={S}, demo size", backend="auto", time=ens,
        reference=f"serial simulate numpy {one * 1e6:.1f} us/step (auto {same * 1e6:.1f})",
        result=f"{one / ens:.1f}x per member-step ({same / ens:.1f}x against auto)",
        target=">= 30x")
    S = 18
    for shared in (False, True):
        ens, one = cob_ensemble_bench(S, 20 if quick else 100, max(3, repeat // 2),
                                      shared=shared)
        add(bench=f"6c. ensemble S={S}, COB size (m=50 d=100 n=1000), "
                  f"{'one training set' if shared else f'{S} training sets'}",
            backend="auto", time=ens, reference=f"serial simulate {one * 1e3:.3f} ms/step"
            f"{_idle_note()}", result=f"{one / ens:.2f}x per member-step", target=">= 2.5x")
    S = 10
    ens, one = population_ensemble_bench(S, 20 if quick else 200, max(3, repeat // 2))
    add(bench=f"6d. ensemble S={S}, population relu d=10 m=100", backend="auto", time=ens,
        reference=f"serial simulate {one * 1e3:.3f} ms/step{_idle_note()}",
        result=f"{one / ens:.2f}x per member-step", target=">= 3x")
    for label, a_idle, n_idle, a_busy, n_busy in tiny_bench(repeat):
        add(bench=f"6e. tiny: {label}", backend="auto", time=a_idle,
            reference=f"numpy {n_idle * 1e6:.1f} us idle, {n_busy * 1e6:.1f} us busy core",
            result=f"ratio {a_idle / n_idle:.2f} idle, {a_busy / n_busy:.2f} busy core",
            target="ratio <= 1.2")
    return rows


def markdown(rows, machine: str, command: str = COMMAND) -> str:
    """The rows as a Markdown table headed by the machine label and the command that
    regenerates them; times to 4 significant digits ("-" for a time that is not a number,
    as on an accuracy line)."""
    lines = [f"Machine: {machine}. Regenerate with `{command}`.", "",
             "| benchmark | backend | median time (s) | reference | result | target |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        time_ = f"{r['time']:.4g}" if np.isfinite(r["time"]) else "-"
        lines.append(f"| {r['bench']} | {r['backend']} | {time_} | {r['reference']} "
                     f"| {r['result']} | {r['target']} |")
    return "\n".join(lines)
