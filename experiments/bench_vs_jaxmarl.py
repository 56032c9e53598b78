"""jsrpo against JaxMARL's own IPPO on Overcooked: env steps/s, compile time, peak memory and
sparse return after the same number of env steps, per layout.

    python experiments/bench_vs_jaxmarl.py --jaxmarl-repo PATH [--layouts cramped_room ...]
        [--env-steps 5e6] [--repeats 1] [--methods jaxmarl ippo srpo] [--out DIR]
        [--sweep-check]

PATH is a JaxMARL source checkout (github FLAIROx/JaxMARL): its baselines are not in the pip
wheel. Their ``baselines/IPPO/ippo_ff_overcooked.py`` is imported from there and run with their
``config/ippo_ff_overcooked.yaml`` (layout, TOTAL_TIMESTEPS, one seed and wandb disabled
overridden); jsrpo's IPPO and SRPO are configured from the same YAML values. Without
``--jaxmarl-repo`` only jsrpo runs (with the YAML values of JaxMARL commit c793d09).

Every measured run is its own subprocess, so its peak memory is that process's ``ru_maxrss``;
runs alternate (jaxmarl, ippo, srpo, jaxmarl, ...) so a shared machine's load hits all alike.
Steps/s counts run time only (compilation is timed separately); an env step advances one env
by one joint action of both agents, on both sides (JaxMARL: TOTAL_TIMESTEPS = updates x
NUM_STEPS x NUM_ENVS). Sparse return: the mean delivery return of the final policy in
``--eval-episodes`` full episodes with sampled actions (jsrpo's final hero-pair evaluation;
the same protocol applied to JaxMARL's final parameters, untimed on both sides), and the
training-time return of the episodes of the last 10% of updates.

The ceiling: both environments alone with random actions (no network), ``vmap`` over 16 and
1024 envs in a ``lax.scan``; training steps/s are reported as a fraction of the 16-env ceiling.

``--sweep-check``: a 2 tau x 4 seed SRPO sweep compiled as one program against the same 8 runs
one after another, each a separate process (wall time of the processes, as jobs would cost).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LAYOUTS = ("cramped_room", "asymm_advantages", "coord_ring", "forced_coord", "counter_circuit")
SYSTEMS = ("jaxmarl", "ippo", "self_play", "srpo")
LABEL = {"jaxmarl": "JaxMARL IPPO", "ippo": "jsrpo ippo", "self_play": "jsrpo self_play",
         "srpo": "jsrpo srpo"}
MARK = "BENCH_JSON "  # prefix of a worker's result line (JaxMARL prints to stdout on import)

import _jaxmarl_runner as jm  # noqa: E402  (next to this script)
import _time_to  # noqa: E402
from _load import BackgroundLoad  # noqa: E402

# (JaxMARL key, jsrpo field, value for jsrpo from the JaxMARL value, note)
HYPER = [
    ("NUM_ENVS", "train.num_envs", lambda v: int(v), ""),
    ("NUM_STEPS", "train.num_steps", lambda v: int(v), ""),
    ("UPDATE_EPOCHS", "train.update_epochs", lambda v: int(v), ""),
    ("NUM_MINIBATCHES", "train.num_minibatches", lambda v: int(v),
     "JaxMARL: minibatch of both seats' samples for its one network; jsrpo ippo: each seat's "
     "network gets the same number of minibatches of its own seat's samples"),
    ("LR", "train.lr", float, ""),
    ("ANNEAL_LR", "train.anneal_lr", bool,
     "JaxMARL: lr constant within an update, lr*(1-u/U); jsrpo: linear per optimiser step"),
    ("GAMMA", "train.gamma", float, ""),
    ("GAE_LAMBDA", "train.gae_lambda", float, ""),
    ("CLIP_EPS", "train.clip_eps", float, "JaxMARL clips the value loss with it too"),
    ("ENT_COEF", "eps", float, "jsrpo's heroes' entropy coefficient"),
    ("VF_COEF", "train.vf_coef", lambda v: 0.5 * float(v),
     "JaxMARL's value loss is 0.5*mean(max(...)); jsrpo's has no 1/2, so 0.5*VF_COEF"),
    ("MAX_GRAD_NORM", "train.max_grad_norm", float, ""),
    ("REW_SHAPING_HORIZON", "train.reward_shaping_horizon", float,
     "both: coefficient 1 -> 0 over env steps counted at the start of each update"),
    ("ACTIVATION", "network.activation", str, ""),
]
# Implicit in JaxMARL's script (not in its YAML), set explicitly for jsrpo.
IMPLICIT = [
    ("(script) adam eps 1e-5", "train.adam_eps", 1e-5),
    ("(script) value loss clipped", "train.clip_value_loss", True),
    ("(script) advantages normalised per minibatch", "train.normalize_advantages", True),
    ("(script) actor & critic MLP 64-64", "network.hidden_sizes", [64, 64]),
    ("(script) MLP on flattened obs", "network.kind", "mlp"),
]


# ============================================================================ workers
# Each runs in its own process and prints one MARK-prefixed JSON line.

def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def jsrpo_overrides(jcfg: dict, method: str, layout: str, env_steps: int, seed: int, tau,
                    num_seeds: int, eval_episodes: int) -> list[str]:
    """jsrpo config overrides reproducing JaxMARL's hyper-parameters ``jcfg``."""
    o = [f"method={method}", f"seed={seed}", f"num_seeds={num_seeds}", "env.name=overcooked",
         f"env.kwargs.layout={layout}", f"train.total_env_steps={int(env_steps)}"]
    for key, field, conv, _ in HYPER:
        o.append(f"{field}={json.dumps(conv(jcfg[key]))}")
    for _, field, value in IMPLICIT:
        o.append(f"{field}={json.dumps(value)}")
    if method == "srpo":
        o.append(f"tau={json.dumps(tau)}")
    updates = int(env_steps) // (int(jcfg["NUM_ENVS"]) * int(jcfg["NUM_STEPS"]))
    # 10 logging periods (the last one is the "last 10%" of training). The periodic evaluation
    # is one episode of one env: 10 x 400 single-env steps inside the timed program (about 0.2%
    # of a 5e6-step run, more in tiny smoke runs); the final evaluation runs after the timing.
    o += [f"log.interval={max(1, math.ceil(updates / 10))}", "log.eval_envs=1",
          f"log.final_eval_envs={eval_episodes}", "log.progress=false",
          "checkpoint.every_updates=0", "checkpoint.snapshots=[]"]
    return o


def worker_jsrpo(spec: dict) -> dict:
    import jax
    import numpy as np

    from jsrpo import config
    from jsrpo.sweep import build_pieces, env_keys, member_inputs, members
    from jsrpo.train import make_train

    cfg = config.load(None, spec["overrides"])
    trainer = make_train(cfg)
    init, periods, final = build_pieces(trainer)
    P = cfg.layout.num_periods
    ms = members(cfg)
    keys, hyper = member_inputs(ms, env_keys(cfg))
    t0 = time.perf_counter()
    compiled = jax.jit(lambda k, h: periods(init(k, h), h, P)).lower(keys, hyper).compile()
    t1 = time.perf_counter()
    states, (metrics, _) = jax.block_until_ready(compiled(keys, hyper))
    t2 = time.perf_counter()
    _, fin = jax.jit(final)(states, hyper)
    steps = cfg.layout.env_steps_per_member
    ret = np.asarray(metrics["train/return"])  # [P, M, streams]
    return {
        "compile_s": t1 - t0, "run_s": t2 - t1, "env_steps": steps, "members": len(ms),
        "updates": cfg.layout.num_updates, "env_steps_per_s": steps * len(ms) / (t2 - t1),
        # ippo/self_play: hero pairs; srpo: every stream has an adversary in it.
        "train_return": float(np.nanmean(ret[-1])),
        "eval_return": float(np.mean(np.asarray(fin["team_return"]))),
        "eval_episodes": cfg.log.final_eval_envs,
    }


def worker_jaxmarl(spec: dict) -> dict:
    return jm.run(spec["repo"], spec["layout"], spec["env_steps"], spec["seed"],
                  spec["eval_episodes"])


def worker_ceiling(spec: dict) -> dict:
    """Random-action env steps/s of the raw JaxMARL env and of jsrpo's env, no network."""
    import jax
    import jax.numpy as jnp

    def measure(env, n_envs: int, steps: int) -> float:
        n_act = env.action_space(env.agents[0]).n

        def run(key):
            key, k = jax.random.split(key)
            _, state = jax.vmap(env.reset)(jax.random.split(k, n_envs))

            def body(carry, _):
                state, key, acc = carry
                key, k_a, k_s = jax.random.split(key, 3)
                a = jax.random.randint(k_a, (len(env.agents), n_envs), 0, n_act)
                act = {ag: a[i] for i, ag in enumerate(env.agents)}
                _, state, rew, _, _ = jax.vmap(env.step)(jax.random.split(k_s, n_envs), state, act)
                return (state, key, acc + rew[env.agents[0]].sum()), None

            (_, _, acc), _ = jax.lax.scan(body, (state, key, jnp.zeros(())), None, length=steps)
            return acc

        f = jax.jit(run).lower(jax.random.PRNGKey(0)).compile()
        jax.block_until_ready(f(jax.random.PRNGKey(1)))  # warm-up
        best = 0.0
        for r in range(2):
            t0 = time.perf_counter()
            jax.block_until_ready(f(jax.random.PRNGKey(2 + r)))
            best = max(best, n_envs * steps / (time.perf_counter() - t0))
        return best

    out = {}
    import jaxmarl
    from jaxmarl.environments.overcooked import overcooked_layouts
    raw = jaxmarl.make("overcooked", layout=overcooked_layouts[spec["layout"]])
    todo = [("jaxmarl_env", raw)]
    try:
        import envs
        todo.append(("jsrpo_env", envs.make("overcooked", layout=spec["layout"])))
    except Exception as e:  # jsrpo without Overcooked
        out["jsrpo_env_error"] = f"{type(e).__name__}: {e}"
    for name, env in todo:
        for n_envs, steps in ((16, spec["steps16"]), (1024, spec["steps1024"])):
            out[f"{name}_{n_envs}"] = measure(env, n_envs, steps)
    return out


def worker_interleaved(spec: dict) -> dict:
    """Update time of every system in one process, calls alternated round by round.

    Each system's program is init plus ``updates`` training updates (JaxMARL: its ``make_train``
    with TOTAL_TIMESTEPS = updates x NUM_ENVS x NUM_STEPS; jsrpo: ``init`` and a ``lax.scan`` of
    ``update``, no logging or evaluation), compiled once; then ``rounds`` rounds call every
    system once in turn. The minimum over rounds is the least disturbed time on a shared
    machine, and the median shows the spread; slow drifts in load hit every system alike.
    """
    import jax

    layout, n, rounds = spec["layout"], int(spec["updates"]), int(spec["rounds"])
    programs, stages = {}, {}
    for m in spec["methods"]:
        if m == "jaxmarl":
            mod = jm.import_script(spec["repo"])
            cfg = jm.run_config(jm.load_config(spec["repo"]), layout, 0, 0)
            cfg["TOTAL_TIMESTEPS"] = n * int(cfg["NUM_ENVS"]) * int(cfg["NUM_STEPS"])
            cfg["ENV_KWARGS"]["layout"] = mod.overcooked_layouts[layout]
            fn, arg = jax.jit(mod.make_train(cfg)), jax.random.PRNGKey(0)
        else:
            from jsrpo import config
            from jsrpo.sweep import member_hyper
            from jsrpo.train import make_train
            cfg = config.load(None, spec["overrides"][m])
            tr = make_train(cfg)
            hyper = member_hyper(cfg)

            def run(key, tr=tr, hyper=hyper):
                body = lambda s, _: (tr.update(s, hyper)[0], None)
                return jax.lax.scan(body, tr.init(key, hyper), None, length=n)[0].params

            fn, arg = jax.jit(run), jax.random.PRNGKey(0)
        t0 = time.perf_counter()
        traced = fn.trace(arg)
        t1 = time.perf_counter()
        lowered = traced.lower()
        t2 = time.perf_counter()
        compiled = lowered.compile()
        t3 = time.perf_counter()
        jax.block_until_ready(compiled(arg))  # warm-up
        programs[m] = (compiled, arg, time.perf_counter() - t0)
        stages[m] = {"trace_s": t1 - t0, "lower_s": t2 - t1, "xla_s": t3 - t2}
    times = {m: [] for m in programs}
    for _ in range(rounds):
        for m, (compiled, arg, _) in programs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(arg))
            times[m].append((time.perf_counter() - t0) / n)
    steps = int(spec["env_steps_per_update"])
    return {m: {"min_ms": 1000 * min(t), "median_ms": 1000 * statistics.median(t),
                "rounds_ms": [1000 * x for x in t],
                "env_steps_per_s": steps / min(t), "compile_and_first_s": programs[m][2],
                **stages[m]}
            for m, t in times.items()}


def paired_ratio(ref_ms: list, sys_ms: list) -> float:
    """Median over rounds of ref/sys time measured in the same round: the systems run back to
    back within a round, so a load change that spans rounds cancels in each ratio."""
    return statistics.median(a / b for a, b in zip(ref_ms, sys_ms))


def worker_time_to(spec: dict) -> dict:
    if spec["system"] == "jaxmarl":
        return _time_to.jaxmarl_curves(spec["repo"], spec["layout"], spec["env_steps"],
                                       spec["seeds"], spec["window"])
    return _time_to.jsrpo_curves(spec["overrides"], spec["statistic"])


WORKERS = {"jsrpo": worker_jsrpo, "jaxmarl": worker_jaxmarl, "ceiling": worker_ceiling,
           "interleaved": worker_interleaved, "time_to": worker_time_to}


def device_info() -> dict:
    """What the measurement ran on: JAX platform, device kind and count, host CPUs."""
    import jax

    d = jax.devices()
    return {"platform": d[0].platform, "device_kind": d[0].device_kind, "device_count": len(d),
            "host_cpus": os.cpu_count(), "jax": jax.__version__}


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    res = WORKERS[spec["kind"]](spec)
    res["peak_rss_mb"] = peak_mb()
    res["device"] = device_info()
    print(MARK + json.dumps(res), flush=True)


# ============================================================================ orchestration

def run_worker(spec: dict, timeout: float | None = None) -> dict:
    """Run one worker process; returns its result (plus wall seconds) or ``{"error": ...}``."""
    env = dict(os.environ, WANDB_MODE="disabled", MPLBACKEND="Agg")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(MARK):
            res = json.loads(line[len(MARK):])
            res["wall_s"] = wall
            return res
    tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-6:])
    return {"error": f"exit {p.returncode}: {tail}", "wall_s": wall}


def jsrpo_available() -> str | None:
    """None when jsrpo has Overcooked and reward shaping, else why not."""
    try:
        import envs
        from jsrpo.config import TrainConfig
        envs.check_name("overcooked")
        if not hasattr(TrainConfig, "reward_shaping_horizon"):
            return "jsrpo has no train.reward_shaping_horizon yet"
    except Exception as e:
        return f"jsrpo has no Overcooked env yet ({e})"
    return None


def median(rs, key):
    vals = [r[key] for r in rs if key in r and r[key] is not None]
    return statistics.median(vals) if vals else float("nan")


def fmt(x, spec=",.0f"):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def summarise(runs: dict, ceiling: dict) -> dict:
    """Median over repeats of every system's numbers, ratios to JaxMARL and to the ceiling."""
    summ = {}
    for system, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            summ[system] = {"error": rs[-1].get("error", "no run")}
            continue
        summ[system] = {k: median(ok, k) for k in (
            "env_steps_per_s", "compile_s", "peak_rss_mb", "eval_return", "train_return",
            "env_steps")}
        summ[system]["runs"] = len(ok)
    base = summ.get("jaxmarl", {}).get("env_steps_per_s")
    ceil16 = ceiling.get("jaxmarl_env_16")
    for s in summ.values():
        sps = s.get("env_steps_per_s")
        if sps is not None:
            s["vs_jaxmarl"] = sps / base if base else None
            s["vs_ceiling16"] = sps / ceil16 if ceil16 else None
    return summ


def layout_table(layout: str, summ: dict, ceiling: dict) -> str:
    lines = [f"### {layout}", "",
             "| system | env steps/s | compile s | peak MB | sparse return (eval) | "
             "train return (last 10%) | vs JaxMARL IPPO | of env ceiling (16 envs) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for system, s in summ.items():
        if "error" in s:
            lines.append(f"| {LABEL[system]} | failed: {s['error'].splitlines()[-1][:80]} "
                         "| | | | | | |")
            continue
        lines.append(
            f"| {LABEL[system]} | {fmt(s['env_steps_per_s'])} | {fmt(s['compile_s'], '.1f')} | "
            f"{fmt(s['peak_rss_mb'])} | {fmt(s['eval_return'], '.1f')} | "
            f"{fmt(s['train_return'], '.1f')} | {fmt(s.get('vs_jaxmarl'), '.2f')} | "
            f"{fmt(s.get('vs_ceiling16'), '.3f')} |")
    c = ceiling
    if not c:
        pass  # --no-ceiling
    elif "error" in c:
        lines += ["", f"env ceiling: failed ({c['error'].splitlines()[-1][:100]})"]
    else:
        txt = ("env ceiling (random actions, no network): "
               f"JaxMARL env {fmt(c.get('jaxmarl_env_16'))}"
               f" steps/s with 16 envs, {fmt(c.get('jaxmarl_env_1024'))} with 1024")
        if "jsrpo_env_16" in c:
            txt += (f"; jsrpo env {fmt(c['jsrpo_env_16'])} with 16, "
                    f"{fmt(c['jsrpo_env_1024'])} with 1024")
        lines += ["", txt]
    return "\n".join(lines)


def header(info: dict | None, jcfg: dict, args) -> str:
    lines = ["## Setup", ""]
    if info:
        lines.append(f"JaxMARL checkout: {info['repo']} at commit {info['commit']} "
                     f"({info['commit_date']}); checkout declares jaxmarl "
                     f"{info['checkout_version']}, installed jaxmarl {args.installed_jaxmarl}")
    else:
        lines.append("No --jaxmarl-repo: jsrpo runs alone, configured with the hyper-parameters of "
                     "JaxMARL's ippo_ff_overcooked.yaml at commit c793d09.")
    lines += ["", "| JaxMARL | value | jsrpo | value | note |", "|---|---|---|---|---|"]
    for key, field, conv, note in HYPER:
        lines.append(f"| {key} | {jcfg[key]} | {field} | {conv(jcfg[key])} | {note} |")
    for what, field, value in IMPLICIT:
        lines.append(f"| {what} | | {field} | {value} | |")
    lines += [
        f"| TOTAL_TIMESTEPS | {args.env_steps} | train.total_env_steps | {args.env_steps} | both: "
        f"{args.env_steps // (jcfg['NUM_ENVS'] * jcfg['NUM_STEPS'])} updates x "
        f"{jcfg['NUM_ENVS']} envs x {jcfg['NUM_STEPS']} steps |",
        f"| (srpo) | | tau | {args.tau} | |", "",
        "Differences that remain: JaxMARL's IPPO shares one network between both agents "
        "(parameter sharing); jsrpo's ippo trains one network per seat on that seat's half of "
        "the data (jsrpo's self_play is the shared-parameter variant). JaxMARL draws each "
        "minibatch from all samples at random; jsrpo draws equal shares from each env group and "
        "seat (advantages are normalised over each network's whole minibatch on both sides). "
        "JaxMARL's script calls a host callback (wandb.log, disabled) every update; jsrpo once "
        "per logging period."]
    return "\n".join(lines)


def sweep_check(args, jcfg) -> dict:
    """2 tau x 4 seeds of SRPO as one program vs the 8 runs one after another."""
    layout, steps = args.layouts[0], int(args.sweep_env_steps)
    taus = list(args.sweep_taus)
    print(f"\n## Sweep check: SRPO {len(taus)} tau x 4 seeds on {layout}, {steps:,} env steps "
          "per member", flush=True)
    one = run_worker({"kind": "jsrpo", "overrides": jsrpo_overrides(
        jcfg, "srpo", layout, steps, 0, taus, 4, args.eval_episodes)})
    if "error" in one:
        print(f"  one program failed: {one['error']}")
        return {"one_program": one}
    print(f"  one program : wall {one['wall_s']:.1f}s (compile {one['compile_s']:.1f}s, run "
          f"{one['run_s']:.1f}s, {one['env_steps_per_s']:,.0f} env steps/s, "
          f"peak {one['peak_rss_mb']:,.0f} MB)", flush=True)
    sep = []
    for tau in taus:
        for seed in range(4):
            r = run_worker({"kind": "jsrpo", "overrides": jsrpo_overrides(
                jcfg, "srpo", layout, steps, seed, tau, 1, args.eval_episodes)})
            sep.append(r)
            if "error" in r:
                print(f"  separate run tau={tau} seed={seed} failed: {r['error']}")
                return {"one_program": one, "separate": sep}
            print(f"  separate tau={tau:g} seed={seed}: wall {r['wall_s']:.1f}s (compile "
                  f"{r['compile_s']:.1f}s, run {r['run_s']:.1f}s)", flush=True)
    sep_wall = sum(r["wall_s"] for r in sep)
    sep_cr = sum(r["compile_s"] + r["run_s"] for r in sep)
    one_cr = one["compile_s"] + one["run_s"]
    out = {"layout": layout, "env_steps_per_member": steps, "taus": taus, "seeds": 4,
           "one_program": one, "separate": sep, "wall_ratio": sep_wall / one["wall_s"],
           "compile_run_ratio": sep_cr / one_cr}
    verdict = "meets" if one["wall_s"] < sep_wall else "MISSES"
    print(f"  8 separate runs: wall {sep_wall:.1f}s (compile+run {sep_cr:.1f}s) | one program: "
          f"wall {one['wall_s']:.1f}s (compile+run {one_cr:.1f}s) | separate/one: wall "
          f"{out['wall_ratio']:.2f}x, compile+run {out['compile_run_ratio']:.2f}x -> {verdict} "
          "the target (one program cheaper)")
    return out


def interleaved(args, info, jcfg, head) -> None:
    """``--interleaved``: update-time table per layout from alternated calls in one process."""
    steps = int(jcfg["NUM_ENVS"]) * int(jcfg["NUM_STEPS"])
    env_steps = steps * args.interleaved_updates
    results: dict = {"mode": "interleaved", "rounds": args.interleaved,
                     "updates_per_call": args.interleaved_updates, "jaxmarl_checkout": info,
                     "jaxmarl_config": jcfg, "methods": args.methods, "tau": args.tau,
                     "background_load": args.background_load, "layouts": {}}
    lines = [f"## Interleaved update timing ({args.interleaved} rounds of "
             f"{args.interleaved_updates}"
             " updates per system, alternated in one process; min over rounds; paired median: "
             "median of the same round's time ratios; "
             f"{args.background_load} busy background process(es))", "",
             "| layout | " + " | ".join(f"{LABEL[m]} ms/update (median)" for m in args.methods)
             + " | " + " | ".join(f"{LABEL[m]} / JaxMARL (paired median)" for m in args.methods
                                  if m != "jaxmarl")
             + " |", "|---|" + "---:|" * (2 * len(args.methods) - ("jaxmarl" in args.methods))]
    compile_lines = ["## Compile time per stage (seconds: trace / lower / XLA, cold: no "
                     "persistent cache)", "",
                     "| layout | " + " | ".join(LABEL[m] for m in args.methods) + " |",
                     "|---|" + "---:|" * len(args.methods)]
    for layout in args.layouts:
        spec = {"kind": "interleaved", "layout": layout, "updates": args.interleaved_updates,
                "rounds": args.interleaved, "methods": args.methods, "env_steps_per_update": steps,
                "repo": info["repo"] if info else None,
                "overrides": {m: jsrpo_overrides(jcfg, m, layout, env_steps, 0, args.tau, 1, 1)
                              for m in args.methods if m != "jaxmarl"}}
        with BackgroundLoad(args.background_load):
            r = run_worker(spec)
        results["layouts"][layout] = r
        if "error" in r:
            print(f"{layout}: FAILED {r['error']}", flush=True)
            continue
        results["device"] = r.get("device")
        cells = [f"{r[m]['min_ms']:.1f} ({r[m]['median_ms']:.1f})" for m in args.methods]
        if "jaxmarl" in r:
            cells += [f"{r['jaxmarl']['min_ms'] / r[m]['min_ms']:.2f} "
                      f"({paired_ratio(r['jaxmarl']['rounds_ms'], r[m]['rounds_ms']):.2f})"
                      for m in args.methods if m != "jaxmarl"]
        lines.append(f"| {layout} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
        compile_lines.append(f"| {layout} | " + " | ".join(
            f"{r[m]['trace_s']:.1f} / {r[m]['lower_s']:.1f} / {r[m]['xla_s']:.1f}"
            for m in args.methods) + " |")
        print(compile_lines[-1], flush=True)
        write_results(args, results, head, ["\n".join(lines), "\n".join(compile_lines)])
    print("\n".join(lines) + "\n\n" + "\n".join(compile_lines))
    write_results(args, results, head, ["\n".join(lines), "\n".join(compile_lines)])


def time_to_systems(args, jcfg, layout: str) -> list:
    """``(name, worker spec)`` of every system of a ``--time-to`` measurement, in run order."""
    window_updates = max(1, round(args.time_to_window / (int(jcfg["NUM_ENVS"])
                                                         * int(jcfg["NUM_STEPS"]))))
    out = []
    for m in args.methods:
        if m == "jaxmarl":
            out.append((LABEL[m], {"kind": "time_to", "system": "jaxmarl", "repo": args.repo,
                                   "layout": layout, "env_steps": args.env_steps,
                                   "seeds": args.time_to_seeds, "window": window_updates}))
            continue
        o = jsrpo_overrides(jcfg, m, layout, args.env_steps, 0, args.tau,
                            args.time_to_seeds, 1)
        o += [f"log.interval={window_updates}", "log.eval_envs=8"]
        out.append((f"{LABEL[m]} (JaxMARL's hyper-parameters)",
                    {"kind": "time_to", "system": m, "overrides": o,
                     "statistic": "eval" if m == "srpo" else "train"}))
    for entry in args.time_to_configs:
        path, _, extra = entry.partition(":")
        over = [x for x in re.split(r",(?![^\[]*\])", extra) if x]  # commas inside [...] stay
        from jsrpo import config as config_mod
        cfg = config_mod.load(ROOT / path, over)
        if cfg.swept():
            raise SystemExit(f"--time-to-configs {entry}: sweeps {', '.join(cfg.swept())}; a "
                             "time-to run trains seeds of one setting (give single values)")
        per_update = cfg.layout.env_steps_per_update
        o = [f"{k}={json.dumps(v)}" for k, v in _flat(config_mod.to_dict(cfg)).items()]
        o += [f"env.kwargs.layout={layout}", f"train.total_env_steps={args.env_steps}",
              f"num_seeds={args.time_to_seeds}", "seed=0",
              f"log.interval={max(1, round(args.time_to_window / per_update))}",
              "log.eval_envs=8", "log.progress=false", "checkpoint.every_updates=0",
              "checkpoint.snapshots=[]"]
        out.append((f"jsrpo {path}" + (f" ({', '.join(over)})" if over else ""),
                    {"kind": "time_to", "system": cfg.method, "overrides": o,
                     "statistic": "eval" if cfg.method == "srpo" else "train"}))
    return out


def _flat(d: dict, prefix: str = "") -> dict:
    """Dotted keys of a nested config mapping (``sweep`` left out: time-to runs sweep seeds)."""
    out: dict = {}
    for k, v in d.items():
        if k == "sweep":
            continue
        if isinstance(v, dict) and k != "kwargs":
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, dict):
            out.update({f"{prefix}{k}.{kk}": vv for kk, vv in v.items()})
        else:
            out[f"{prefix}{k}"] = v
    return out


def _span(x: dict, fmt) -> str:
    if x["median"] == math.inf:
        return "not reached"
    hi = "not reached" if x["max"] == math.inf else fmt(x["max"])
    return f"{fmt(x['median'])} ({fmt(x['min'])} - {hi})"


def time_to(args, info, jcfg, head) -> None:
    """``--time-to RETURN``: wall time and env steps to the first window at or above RETURN."""
    args.repo = info["repo"] if info else None
    layout = args.layouts[0]
    results: dict = {"mode": "time_to", "return": args.time_to, "layout": layout,
                     "seeds": args.time_to_seeds, "window_env_steps": args.time_to_window,
                     "env_steps": args.env_steps, "jaxmarl_checkout": info,
                     "jaxmarl_config": jcfg, "systems": {}}
    lines = [f"## Time to a training return of {args.time_to:g} on {layout} "
             f"({args.time_to_seeds} seeds per system in one program, windows of about "
             f"{args.time_to_window:,} env steps, budget {args.env_steps:,} env steps; median "
             "(min - max) over seeds, compile included)", "",
             "| system | statistic | reached | wall s | env steps |", "|---|---|---:|---:|---:|"]
    for name, spec in time_to_systems(args, jcfg, layout):
        print(f"  {name} ...", flush=True)
        r = run_worker(spec)
        if "error" in r:
            print(f"  {name}: FAILED {r['error']}", flush=True)
            results["systems"][name] = r
            continue
        hits = _time_to.crossings(r, args.time_to)
        summ = _time_to.summary(hits)
        r.update(hits=hits, summary=json.loads(json.dumps(summ).replace("Infinity", "null")))
        results["systems"][name] = r
        results["device"] = r.get("device")
        lines.append(f"| {name} | {r['statistic']} | {summ['reached']}/{summ['seeds']} | "
                     f"{_span(summ['wall_s'], lambda x: f'{x:.0f}')} | "
                     f"{_span(summ['env_steps'], lambda x: f'{x / 1e6:.2f}M')} |")
        print(lines[-1], f"(compile {r['compile_s']:.1f} s, run {r['run_s']:.1f} s)", flush=True)
        write_results(args, results, head, ["\n".join(lines)])
    print("\n".join(lines))


def write_results(args, results: dict, head: str, tables: list) -> None:
    """Write results.json and results.md so far (called after every layout, so a run cut short
    keeps the layouts it finished)."""
    if args.out is None:
        return
    from jsrpo.files import atomic_write
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "results.json", json.dumps(results, indent=2, default=str) + "\n")
    md = ["# jsrpo vs JaxMARL IPPO on Overcooked", "",
          "Command: `" + " ".join([Path(sys.argv[0]).name] + sys.argv[1:]) + "`", "",
          head, "", "## Results", ""] + ["\n\n".join(tables)]
    sc = results.get("sweep_check")
    if sc and "wall_ratio" in sc:
        md += ["", "## Sweep check", "",
               f"SRPO {len(sc['taus'])} tau x {sc['seeds']} seeds on {sc['layout']}, "
               f"{sc['env_steps_per_member']:,} env steps per member: 8 separate runs take "
               f"{sc['wall_ratio']:.2f}x the wall time of one program "
               f"(compile+run {sc['compile_run_ratio']:.2f}x)."]
    atomic_write(args.out / "results.md", "\n".join(md) + "\n")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--jaxmarl-repo", type=Path, default=None,
                    help="JaxMARL source checkout (has baselines/IPPO/ippo_ff_overcooked.py)")
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    ap.add_argument("--env-steps", type=float, default=5e6,
                    help="env steps per run (JaxMARL's TOTAL_TIMESTEPS; default 5e6 as its YAML)")
    ap.add_argument("--repeats", type=int, default=1, help="alternations of the systems per layout")
    ap.add_argument("--methods", nargs="*", default=["jaxmarl", "ippo", "srpo"], choices=SYSTEMS,
                    help="systems to run, in alternation order (jaxmarl needs --jaxmarl-repo)")
    ap.add_argument("--tau", type=float, default=1.0,
                    help="SRPO's tau (the Overcooked configs use 1; "
                    "any tau > 0 runs the same program)")
    ap.add_argument("--eval-episodes", type=int, default=128,
                    help="episodes of the final (untimed) evaluation of each run")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the random-action env ceiling")
    ap.add_argument("--sweep-check", action="store_true",
                    help="also time a 2 tau x 4 seed SRPO sweep against 8 runs one after another")
    ap.add_argument("--sweep-env-steps", type=float, default=5e5)
    ap.add_argument("--sweep-taus", type=float, nargs=2, default=[1.0, 10.0])
    ap.add_argument("--interleaved", type=int, default=0, metavar="ROUNDS",
                    help="instead of full runs: per layout, one process alternates the systems' "
                         "training updates for ROUNDS rounds (see worker_interleaved)")
    ap.add_argument("--interleaved-updates", type=int, default=10,
                    help="updates per call in --interleaved mode")
    ap.add_argument("--background-load", type=int, default=0, metavar="K",
                    help="keep K busy single-threaded processes (a fixed numeric loop) running "
                         "during each --interleaved measurement")
    ap.add_argument("--time-to", type=float, default=None, metavar="RETURN",
                    help="instead of throughput: per system, wall time and env steps until each "
                         "seed's training return first reaches RETURN (first layout only)")
    ap.add_argument("--time-to-seeds", type=int, default=4)
    ap.add_argument("--time-to-window", type=int, default=8192, metavar="ENV_STEPS",
                    help="env steps per window of the return curve (rounded to whole updates)")
    ap.add_argument("--time-to-configs", nargs="*", default=[], metavar="FILE[:k=v,...]",
                    help="jsrpo configs to time as well (layout, budget and seeds set by the "
                         "benchmark), e.g. configs/overcooked/cramped_room_fast.yaml:method=srpo")
    ap.add_argument("--out", type=Path, default=None,
                    help="directory for results.json and results.md (e.g. "
                         "experiments/results/bench_vs_jaxmarl)")
    args = ap.parse_args()
    if args.background_load < 0:
        ap.error(f"--background-load: got {args.background_load}; allowed: an integer >= 0")
    if args.worker:
        worker_main(args.worker)
        return
    args.env_steps = int(args.env_steps)

    import jaxmarl
    args.installed_jaxmarl = getattr(jaxmarl, "__version__", "?")
    info = None
    if args.jaxmarl_repo is not None:
        info = jm.checkout_info(args.jaxmarl_repo)
        jcfg = jm.load_config(info["repo"])
        if info["checkout_version"] and info["checkout_version"] != args.installed_jaxmarl:
            print(f"WARNING: the checkout declares jaxmarl {info['checkout_version']}, installed "
                  f"is {args.installed_jaxmarl}; their script may not match the installed API")
    else:
        jcfg = dict(jm.DEFAULT_CONFIG)
        if "jaxmarl" in args.methods:
            print("No --jaxmarl-repo given: JaxMARL's baseline is not run (its baselines are not "
                  "in the pip wheel); running jsrpo alone.")
            args.methods = [m for m in args.methods if m != "jaxmarl"]
    missing = jsrpo_available()
    if missing:
        print(f"NOTE: {missing}; jsrpo runs are skipped.")
        args.methods = [m for m in args.methods if m == "jaxmarl"]
    if args.interleaved:  # the header then states the steps each timed call runs
        args.env_steps = args.interleaved_updates * int(jcfg["NUM_ENVS"]) * int(jcfg["NUM_STEPS"])
    updates = args.env_steps // (int(jcfg["NUM_ENVS"]) * int(jcfg["NUM_STEPS"]))
    if updates < 1:
        ap.error(f"--env-steps must be at least {int(jcfg['NUM_ENVS']) * int(jcfg['NUM_STEPS'])}")
    head = header(info, jcfg, args)
    print(head, flush=True)
    print(f"\nsystems: {', '.join(LABEL[m] for m in args.methods)}; layouts: "
          f"{', '.join(args.layouts)}; {args.repeats} repeat(s); "
          f"{updates * int(jcfg['NUM_ENVS']) * int(jcfg['NUM_STEPS']):,} "
          f"env steps per run", flush=True)

    if args.interleaved:
        interleaved(args, info, jcfg, head)
        return
    if args.time_to is not None:
        time_to(args, info, jcfg, head)
        return
    t_start = time.perf_counter()
    results: dict = {"jaxmarl_checkout": info, "installed_jaxmarl": args.installed_jaxmarl,
                     "jaxmarl_config": jcfg, "env_steps_arg": args.env_steps,
                     "methods": args.methods, "tau": args.tau, "layouts": {}}
    tables = []
    for layout in args.layouts:
        print(f"\n== {layout}", flush=True)
        ceiling: dict = {}
        if not args.no_ceiling:
            ceiling = run_worker({"kind": "ceiling", "layout": layout, "steps16": 2048,
                                  "steps1024": 128})
            rounded = {k: round(v) if isinstance(v, float) else v for k, v in ceiling.items()}
            print(f"  ceiling: {json.dumps(rounded)}", flush=True)
        runs: dict = {m: [] for m in args.methods}
        for rep in range(args.repeats):
            for m in args.methods:
                if m == "jaxmarl":
                    spec = {"kind": "jaxmarl", "repo": info["repo"], "layout": layout,
                            "env_steps": args.env_steps, "seed": rep,
                            "eval_episodes": args.eval_episodes}
                else:
                    spec = {"kind": "jsrpo", "overrides": jsrpo_overrides(
                        jcfg, m, layout, args.env_steps, rep, args.tau, 1, args.eval_episodes)}
                r = run_worker(spec)
                r["repeat"] = rep
                runs[m].append(r)
                if "error" in r:
                    print(f"  [{rep}] {LABEL[m]:16s} FAILED: {r['error']}", flush=True)
                else:
                    print(f"  [{rep}] {LABEL[m]:16s} {r['env_steps_per_s']:>9,.0f} env steps/s | "
                          f"compile {r['compile_s']:5.1f}s | run {r['run_s']:6.1f}s | peak "
                          f"{r['peak_rss_mb']:6,.0f} MB | sparse return eval "
                          f"{r['eval_return']:6.1f}, train {r['train_return']:6.1f}", flush=True)
        summ = summarise(runs, ceiling)
        results["layouts"][layout] = {"ceiling": ceiling, "runs": runs, "summary": summ}
        table = layout_table(layout, summ, ceiling)
        tables.append(table)
        print("\n" + table, flush=True)
        write_results(args, results, head, tables)

    # Targets, on the medians of every layout.
    lines = ["", "## Targets (median steps/s per layout)", ""]
    for layout, res in results["layouts"].items():
        s = res["summary"]
        sps = {m: s[m].get("env_steps_per_s") for m in s if "error" not in s[m]}
        parts = []
        if "jaxmarl" in sps and "ippo" in sps:
            r = sps["ippo"] / sps["jaxmarl"]
            parts.append(f"jsrpo ippo / JaxMARL IPPO = {r:.2f} "
                         f"({'ok' if r >= 1 else 'below'} >= 1)")
        if "jaxmarl" in sps and "srpo" in sps:
            r = sps["srpo"] / sps["jaxmarl"]
            parts.append(f"srpo / JaxMARL IPPO = {r:.2f} ({'ok' if r >= 0.9 else 'below'} >= 0.9)")
        if "ippo" in sps and "srpo" in sps:
            parts.append(f"srpo / jsrpo ippo = {sps['srpo'] / sps['ippo']:.2f}")
        lines.append(f"- {layout}: " + ("; ".join(parts) or "n/a"))
    print("\n".join(lines))
    tables.append("\n".join(lines))

    if args.sweep_check:
        if missing:
            print(f"\nsweep check skipped: {missing}")
        else:
            results["sweep_check"] = sweep_check(args, jcfg)
    results["wall_s"] = time.perf_counter() - t_start
    print(f"\ntotal wall time {results['wall_s'] / 60:.1f} min")

    write_results(args, results, head, tables)


if __name__ == "__main__":
    main()
