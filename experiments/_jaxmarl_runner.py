"""Run JaxMARL's own IPPO Overcooked baseline from a user's source checkout, timed.

Nothing of JaxMARL's baseline code lives in this repository: ``make_train`` and ``ActorCritic``
are imported from ``<checkout>/baselines/IPPO/ippo_ff_overcooked.py`` and the hyper-parameters
are read from ``<checkout>/baselines/IPPO/config/ippo_ff_overcooked.yaml``. The environment is
the installed ``jaxmarl`` package (the script imports ``jaxmarl``; the checkout's own
``jaxmarl/`` folder is never put on ``sys.path``), the one jsrpo's Overcooked wraps as well.

What the script's ``main()`` does besides ``make_train`` is done here the same way: the layout
name becomes ``overcooked_layouts[name]`` and wandb is off. The script imports ``hydra``,
``omegaconf`` and ``wandb`` at module level; when they are not installed, stand-ins are
registered (``hydra.main`` and ``OmegaConf`` serve only ``main``, which is not called;
``wandb.log`` is what the script's per-update ``jax.debug.callback`` calls, and with wandb
disabled it does nothing either way).
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import types
from pathlib import Path

SCRIPT = Path("baselines") / "IPPO" / "ippo_ff_overcooked.py"
CONFIG = Path("baselines") / "IPPO" / "config" / "ippo_ff_overcooked.yaml"

# The YAML's values at JaxMARL commit c793d09 (used when no checkout is given, so jsrpo can be
# configured identically without one; with a checkout the values are read from its YAML).
DEFAULT_CONFIG = {
    "LR": 2.5e-4, "NUM_ENVS": 16, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 5e6, "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01,
    "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "REW_SHAPING_HORIZON": 2.5e6, "ACTIVATION": "tanh",
    "ENV_NAME": "overcooked", "ENV_KWARGS": {"layout": "coord_ring"}, "ANNEAL_LR": True,
    "SEED": 30, "NUM_SEEDS": 1, "WANDB_MODE": "disabled",
}


def checkout_info(repo) -> dict:
    """Commit, paths and the checkout's declared jaxmarl version.

    Raises if the script is missing.
    """
    repo = Path(repo).resolve()
    script, cfg = repo / SCRIPT, repo / CONFIG
    for p in (script, cfg):
        if not p.is_file():
            raise FileNotFoundError(f"--jaxmarl-repo {repo}: no {p.relative_to(repo)} (a JaxMARL "
                                    "source checkout has baselines/IPPO/ippo_ff_overcooked.py)")
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        date = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%cs"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, date = "unknown (not a git work tree)", ""
    version = None
    init = repo / "jaxmarl" / "__init__.py"
    if init.is_file():
        m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", init.read_text())
        version = m.group(1) if m else None
    return {"repo": str(repo), "commit": commit, "commit_date": date, "script": str(script),
            "config": str(cfg), "checkout_version": version}


def _yaml_loader():
    """PyYAML loader that reads ``5e6`` and ``2.5e6`` as floats, as OmegaConf/Hydra do."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))
    return Loader


def load_config(repo) -> dict:
    """The Overcooked FF YAML as a plain dict (OmegaConf when installed, else PyYAML + floats)."""
    path = Path(repo) / CONFIG
    try:
        from omegaconf import OmegaConf
        return OmegaConf.to_container(OmegaConf.load(path))
    except (ImportError, AttributeError):  # not installed (or the stand-in below)
        import yaml
        return yaml.load(path.read_text(), Loader=_yaml_loader())


def run_config(base: dict, layout: str, env_steps: int, seed: int) -> dict:
    """The YAML overridden for one benchmark run: layout, steps, one seed, wandb disabled."""
    cfg = dict(base)
    cfg["ENV_KWARGS"] = dict(base.get("ENV_KWARGS") or {}, layout=layout)
    cfg["TOTAL_TIMESTEPS"] = int(env_steps)
    cfg["NUM_SEEDS"] = 1
    cfg["SEED"] = int(seed)
    cfg["WANDB_MODE"] = "disabled"
    return cfg


def _stand_ins() -> None:
    os.environ["WANDB_MODE"] = "disabled"
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import hydra  # noqa: F401
    except ImportError:
        hydra = types.ModuleType("hydra")
        hydra.main = lambda *a, **k: (lambda fn: fn)
        sys.modules["hydra"] = hydra
    try:
        import omegaconf  # noqa: F401
    except ImportError:
        omegaconf = types.ModuleType("omegaconf")

        class OmegaConf:  # only main() uses it, and main() is not run
            pass

        omegaconf.OmegaConf = OmegaConf
        sys.modules["omegaconf"] = omegaconf
    try:
        import wandb
        wandb.init(mode="disabled")
    except ImportError:
        wandb = types.ModuleType("wandb")
        wandb.log = lambda *a, **k: None
        wandb.init = lambda *a, **k: None
        sys.modules["wandb"] = wandb


def import_script(repo):
    """Import the baseline script as a module (its ``main`` is not run)."""
    _stand_ins()
    script = Path(repo).resolve() / SCRIPT
    sys.path.insert(0, str(script.parent))
    spec = importlib.util.spec_from_file_location("jaxmarl_ippo_ff_overcooked", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def evaluate(mod, config: dict, params, num_episodes: int, key):
    """Sparse return of the trained shared policy playing both seats: one full episode in each
    of ``num_episodes`` envs, sampled actions (the protocol of jsrpo's hero-pair evaluation)."""
    import jax
    import jax.numpy as jnp
    import jaxmarl

    env = jaxmarl.make(config["ENV_NAME"], **config["ENV_KWARGS"])
    net = mod.ActorCritic(env.action_space(env.agents[0]).n, activation=config["ACTIVATION"])

    def episode(k):
        k, k_reset = jax.random.split(k)
        obs, state = env.reset(k_reset)

        def step(carry, _):
            obs, state, k, ret, alive = carry
            k, k0, k1, k_step = jax.random.split(k, 4)
            pi0, _ = net.apply(params, obs["agent_0"].flatten())
            pi1, _ = net.apply(params, obs["agent_1"].flatten())
            act = {"agent_0": pi0.sample(seed=k0), "agent_1": pi1.sample(seed=k1)}
            obs, state, rew, done, _ = env.step(k_step, state, act)
            ret = ret + alive * rew["agent_0"]
            alive = alive * (1.0 - done["__all__"])
            return (obs, state, k, ret, alive), None

        init = (obs, state, k, jnp.zeros(()), jnp.ones(()))
        (_, _, _, ret, _), _ = jax.lax.scan(step, init, None, length=env.max_steps)
        return ret

    rets = jax.jit(jax.vmap(episode))(jax.random.split(key, num_episodes))
    return float(jnp.mean(rets))


def run(repo, layout: str, env_steps: int, seed: int, eval_episodes: int,
        tail: float = 0.1) -> dict:
    """Compile and run JaxMARL's ``make_train`` once; return timings and sparse returns.

    Run time covers the compiled training program only (as ``jax.jit(make_train(config))``
    is what their ``main`` runs); the final evaluation is compiled and run afterwards.
    """
    import time

    import jax
    import numpy as np

    mod = import_script(repo)
    config = run_config(load_config(repo), layout, env_steps, seed)
    config["ENV_KWARGS"]["layout"] = mod.overcooked_layouts[layout]
    rng = jax.random.PRNGKey(config["SEED"])
    t0 = time.perf_counter()
    compiled = jax.jit(mod.make_train(config)).lower(rng).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(rng))
    t2 = time.perf_counter()
    updates = int(config["NUM_UPDATES"])
    steps = updates * int(config["NUM_STEPS"]) * int(config["NUM_ENVS"])
    m = jax.tree.map(np.asarray, out["metrics"])
    k = max(1, int(np.ceil(tail * updates)))
    # LogWrapper's returned_episode_returns accumulate the env's reward before the script adds
    # the annealed shaped reward, so they are sparse; "reward" is agent_0's sparse step reward.
    train_ret = float(np.mean(m["returned_episode_returns"][-k:]))
    step_rew = float(np.mean(m["reward"][-k:]))
    import jaxmarl
    horizon = int(jaxmarl.make(config["ENV_NAME"], **config["ENV_KWARGS"]).max_steps)
    params = out["runner_state"][0].params
    eval_ret = evaluate(mod, config, params, eval_episodes, jax.random.PRNGKey(10_000 + seed))
    return {
        "compile_s": t1 - t0, "run_s": t2 - t1, "env_steps": steps, "updates": updates,
        "env_steps_per_s": steps / (t2 - t1), "train_return": train_ret,
        "train_return_from_step_reward": step_rew * horizon,
        "eval_return": eval_ret, "eval_episodes": eval_episodes,
    }
