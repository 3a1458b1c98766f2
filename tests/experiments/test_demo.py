"""The demo's own machinery: the backend it takes at its size, and the figure drawn in a
process beside the others."""
import os
import time

import numpy as np
import pytest

import meanfield as mf
from meanfield.experiments import demo
from meanfield.experiments.demo import SCALES, beside, demo_config


def test_the_demo_takes_fused_euler_steps_chosen_from_its_size():
    """"auto" at m = 16, n = 15, d = 2 (float64 relu) is Numba's lanes kernels, whose
    fused Euler steps the ensemble uses; chosen from the sizes, not the machine."""
    from meanfield.runs.run import build

    if mf.backends.cuda_available():
        pytest.skip("with a GPU, auto sends data reductions of this size elsewhere")
    problems = [build(demo_config(tau)) for tau in SCALES.values()]
    assert demo_config(0.1).backend == "auto"
    stacked = problems[0].objective.ensemble([p.student for p in problems],
                                             [p.objective for p in problems])
    assert stacked.euler_steps is not None
    W = np.stack([p.student.w for p in problems])
    h = np.full(2, problems[0].integrator.params["dt"])
    one_by_one = W
    for _ in range(3):
        one_by_one = one_by_one + h[:, None, None] * stacked.velocity(one_by_one)
    assert np.array_equal(stacked.euler_steps(W, h, 3)[0], one_by_one)


def test_work_beside_this_process_is_done_when_waited_for(tmp_path):
    target = tmp_path / "drawn"
    wait = beside(lambda: target.write_text(str(os.getpid())))
    wait()
    assert target.read_text()


def test_work_that_fails_beside_is_done_again_here_and_its_error_raised_here():
    here, calls = os.getpid(), []

    def only_here():
        if os.getpid() != here:
            raise RuntimeError("the child fails")
        calls.append(1)
    beside(only_here)()
    assert calls == [1]  # the child failed, so this process did the work

    def never():
        raise ValueError("bad figure")
    with pytest.raises(ValueError, match="bad figure"):
        beside(never)()


def test_a_stuck_child_is_killed_and_its_work_done_here(tmp_path, monkeypatch):
    """beside() never hangs on a child that does not finish: past CHILD_WAIT_S the child
    is killed and the work runs in this process."""
    monkeypatch.setattr(demo, "CHILD_WAIT_S", 0.5)
    marker = tmp_path / "drawn"
    parent = os.getpid()

    def work():
        if os.getpid() != parent:
            time.sleep(60)          # the child hangs
        marker.write_text(str(os.getpid()))

    began = time.monotonic()
    demo.beside(work)()
    assert marker.read_text() == str(parent) and time.monotonic() - began < 30
