"""A sweep laid out over 4 (host-platform) devices gives the per-member results of the same
sweep on one device, in one program and in checkpointed periods with an interrupt and resume."""
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

from jsrpo.config import from_dict
from jsrpo.sweep import run_sweep, sweep_mesh
from jsrpo.train import make_train

RAW = {"method": "srpo", "tau": [0.0, 3.0], "num_seeds": 2, "env": {"name": "coop_grid"},
       "train": {"total_env_steps": 8 * 16 * 6, "num_envs": 8, "num_steps": 16,
                 "update_epochs": 2, "num_minibatches": 2},
       "log": {"interval": 3, "eval_envs": 4, "final_eval_envs": 4, "progress": False}}

CHILD = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from jsrpo.checkpoint import Checkpoints
    from jsrpo.config import from_dict
    from jsrpo.sweep import Interrupted, run_sweep
    from jsrpo.train import make_train

    raw, out, ckdir = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    assert jax.device_count() == 4
    res = run_sweep(make_train(from_dict(raw)))
    sharding = jax.tree.leaves(res.states.params)[0].sharding
    assert len(sharding.device_set) == 4, sharding
    # Checkpointed: interrupted after the first period, then resumed from the checkpoint.
    cfg = from_dict(dict(raw, checkpoint={"every_updates": 3}))
    trainer = make_train(cfg)
    ck = lambda: Checkpoints(ckdir, cfg, 3, 2, ())
    try:
        run_sweep(trainer, checkpoints=ck(), should_stop=lambda: True)
        raise SystemExit("not interrupted")
    except Interrupted:
        pass
    resumed = run_sweep(trainer, checkpoints=ck())
    flat = lambda r: [np.asarray(x) for x in jax.tree.leaves(
        (r.states.params, r.metrics, r.evals, r.final))]
    np.savez(out, *flat(res), *flat(resumed))
""")


def _flat(res):
    return [np.asarray(x) for x in jax.tree.leaves((res.states.params, res.metrics, res.evals,
                                                    res.final))]


def test_mesh_uses_the_largest_divisor_of_the_member_count():
    devs = ["d0", "d1", "d2", "d3"]
    assert sweep_mesh(8, devs).devices.tolist() == devs
    assert sweep_mesh(6, devs).devices.tolist() == ["d0", "d1", "d2"]
    assert sweep_mesh(7, devs) is None  # prime: one device, nothing padded
    assert sweep_mesh(1, devs) is None


def test_four_devices_give_the_one_device_results(tmp_path):
    import json

    out = tmp_path / "four.npz"
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(RAW), str(out),
                           str(tmp_path / "ck")], env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert jax.device_count() == 1
    # The 1-device reference runs checkpointed (its own directory), so the restore of the
    # 4-device checkpoints below reuses its compiled programs.
    from jsrpo.checkpoint import Checkpoints
    cfg = from_dict(dict(RAW, checkpoint={"every_updates": 3}))
    trainer = make_train(cfg)
    one = _flat(run_sweep(trainer, checkpoints=Checkpoints(tmp_path / "one", cfg, 3, 2, ())))
    four = list(np.load(out).values())
    assert len(four) == 2 * len(one)
    for a, b, c in zip(one, four[:len(one)], four[len(one):]):
        assert a.shape == b.shape == c.shape
        # XLA vectorises a batch of 4 members on one device differently from 1 member per
        # device, so values agree to float32 rounding, not bit for bit.
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        # Resuming on 4 devices reproduces the uninterrupted 4-device run exactly.
        np.testing.assert_array_equal(c, b)
    # The 4-device checkpoints restore on this 1-device process, parameters bit for bit.
    here = run_sweep(trainer, checkpoints=Checkpoints(tmp_path / "ck", cfg, 3, 2, ()))
    n_params = len(jax.tree.leaves(here.states.params))
    for a, c in zip(jax.tree.leaves(here.states.params), four[len(one):len(one) + n_params]):
        np.testing.assert_array_equal(np.asarray(a), c)
