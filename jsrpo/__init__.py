"""jsrpo: strategically risk-averse policy optimisation (SRPO) and its baselines in JAX.

The user-facing API, loaded on first use (importing JaxMARL's environments starts a JAX
backend, which a multi-host run must be able to configure first, so ``import jsrpo`` itself
imports nothing heavy)::

    import jax, jsrpo
    hero = jsrpo.load_policy("runs/default", member=0, seat=0)   # an Agent
    partner = jsrpo.partners.parse("coop_grid", "delivering", seat=1)
    totals = jsrpo.play_episode(jsrpo.VecEnv(jsrpo.make_env("coop_grid")), hero, partner,
                                hero.params, partner.params, jax.random.PRNGKey(0))
"""
import importlib

#: exported name -> the module that defines it.
_EXPORTS = {
    "Agent": "jsrpo.agents",
    "network_agent": "jsrpo.agents",
    "load_policy": "jsrpo.checkpoint",
    "load_run": "jsrpo.checkpoint",
    "RunCheckpoint": "jsrpo.checkpoint",
    "Config": "jsrpo.config",
    "load_config": "jsrpo.config",
    "play_episode": "jsrpo.episodes",
    "play_pairs": "jsrpo.episodes",
    "RunMeta": "jsrpo.rundir",
    "VecEnv": "jsrpo.vec_env",
    "make_train": "jsrpo.train",
    "run_sweep": "jsrpo.sweep",
    "make_env": "envs",
}
_MODULES = ("partners", "crossplay", "equilibria")
_RENAMED = {"load_config": "load", "make_env": "make"}

__all__ = sorted(_EXPORTS) + list(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f"jsrpo.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), _RENAMED.get(name, name))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jsrpo' has no attribute {name!r}")


def __dir__():
    return __all__
