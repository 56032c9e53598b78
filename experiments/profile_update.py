"""Where a training update spends its time: the XLA operations of N updates, by time.

    python experiments/profile_update.py configs/overcooked/asymm_advantages_srpo.yaml \
        [--set num_seeds=1 ...] [--updates 10] [--top 25]

Compiles one member's ``init`` plus a scan of ``--updates`` training updates (as the benchmark's
interleaved mode does), runs it once to warm up, then once under ``jax.profiler.trace`` and
sums the traced XLA operations by name over the compute threads. Each line gives ms per update,
calls per update and the operation's HLO (shapes and dimension numbers), so the heavy matrix
products can be told apart. The profiler slows the program down (about 2x on CPU), so compare
shares between operations and between configs, not absolute times with other measurements.
"""
from __future__ import annotations

import argparse
import collections
import re
import tempfile
from pathlib import Path

import jax

from jsrpo import config
from jsrpo.sweep import member_hyper
from jsrpo.train import make_train


def op_times(trace_dir: Path) -> tuple[collections.Counter, collections.Counter]:
    """Total duration (ns) and number of calls of each named XLA operation in a trace, over
    the compute threads."""
    path = sorted(trace_dir.glob("**/*.xplane.pb"))[-1]
    data = jax.profiler.ProfileData.from_file(str(path))
    total, calls = collections.Counter(), collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_XLAEigen"):  # XLA's CPU compute threads
                continue
            for ev in line.events:
                # Executor events and while loops enclose other operations: skip them so no
                # time is counted twice.
                if "Execute" in ev.name or ev.name.startswith("while"):
                    continue
                total[ev.name] += ev.duration_ns
                calls[ev.name] += 1
    return total, calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", type=Path, help="a run config (YAML)")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides, key=value")
    ap.add_argument("--updates", type=int, default=10)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()

    cfg = config.load(args.config, args.set)
    trainer = make_train(cfg)
    hyper = member_hyper(cfg)
    n = args.updates

    def run(key):
        body = lambda s, _: (trainer.update(s, hyper)[0], None)
        state = jax.lax.scan(body, trainer.init(key, hyper), None, length=n)[0]
        return state.params, state.obs  # the rollout's output too, so it is not pruned

    key = jax.random.PRNGKey(cfg.seed)
    compiled = jax.jit(run).lower(key).compile()
    hlo = {}
    for line in compiled.as_text().splitlines():
        m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (.*)", line)
        if m:
            hlo[m.group(1)] = m.group(2)
    jax.block_until_ready(compiled(key))
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            jax.block_until_ready(compiled(key))
        total, calls = op_times(Path(d))
    all_ns = sum(total.values())
    print(f"{cfg.method} on {cfg.env.name} {dict(cfg.env.kwargs)}: {n} updates of "
          f"{cfg.layout.env_steps_per_update} env steps; "
          f"traced operations {all_ns / 1e6 / n:.1f} ms "
          "per update (profiler overhead included)")
    print(f"{'ms/update':>10} {'share':>6} {'calls':>6}  operation")
    for name, ns in total.most_common(args.top):
        desc = re.sub(r", metadata=.*", "", hlo.get(name, ""))[:110]
        print(f"{ns / 1e6 / n:10.2f} {ns / all_ns:6.1%} {calls[name] / n:6.0f}  {name}: {desc}")


if __name__ == "__main__":
    main()
