"""Optional experiment trackers: the rows of ``metrics.jsonl`` sent to Weights & Biases and/or
TensorBoard, one tracker run per sweep member with the member's hyper-parameters as its config.

Both libraries are optional extras (``pip install -e ".[trackers]"``); ``check`` refuses a
config that asks for a missing one before anything compiles or is written. W&B runs in any of
its modes (``offline`` needs no network: ``wandb sync`` uploads later); TensorBoard event files
go to ``RUN_DIR/tensorboard/member_<i>/``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Optional

from jsrpo.config import Config, ConfigError

# The tracker libraries are optional extras, imported only by a run that asks for them (wandb
# alone adds about 0.4 s to every process start); ``check`` names a missing one first.


def check(cfg: Config) -> None:
    """Raise ``ConfigError`` naming the field when a requested tracker's library is missing."""
    for field, module, extra in (("log.wandb", "wandb", "trackers"),
                                 ("log.tensorboard", "tensorboard", "trackers")):
        wanted = cfg.log.wandb is not None if module == "wandb" else cfg.log.tensorboard
        if wanted and importlib.util.find_spec(module) is None:
            raise ConfigError(f"{field}: the {module} package is not installed; install the "
                              f"extra (pip install -e \".[{extra}]\") or turn {field} off")


def _scalars(row: dict) -> dict:
    """Numeric fields of a metrics row, lists (per seat or stream) spread as ``name/i``."""
    out = {}
    for k, v in row.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float)):
            out[k] = float(v)
        elif isinstance(v, list) and all(isinstance(x, (int, float)) for x in v):
            out.update({f"{k}/{i}": float(x) for i, x in enumerate(v)})
    return out


class Trackers:
    """Every tracker a config asks for, for the members of one run (main process only)."""

    def __init__(self, cfg: Config, run_dir: Path, labels: list[str], hypers: list[dict]):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.wandb_runs: list = []
        self.tb_writers: list = []
        if cfg.log.wandb is not None:
            import wandb

            w = cfg.log.wandb
            for label, hyper in zip(labels, hypers):
                self.wandb_runs.append(wandb.init(
                    project=w["project"], entity=w.get("entity"), group=w.get("group"),
                    mode=w.get("mode", "online"), name=label, config=hyper,
                    dir=str(self.run_dir), reinit="create_new"))
        if cfg.log.tensorboard:
            from tensorboard.summary import Writer as TensorBoardWriter

            for i in range(len(labels)):
                path = self.run_dir / "tensorboard" / f"member_{i}"
                path.mkdir(parents=True, exist_ok=True)
                self.tb_writers.append(TensorBoardWriter(str(path)))

    @property
    def active(self) -> bool:
        return bool(self.wandb_runs or self.tb_writers)

    def log(self, member: int, row: dict) -> None:
        """One metrics row of one member, at its ``env_steps``."""
        step = int(row["env_steps"])
        values = _scalars({k: v for k, v in row.items() if k not in ("member", "seed")})
        if self.wandb_runs:
            self.wandb_runs[member].log(values, step=step)
        if self.tb_writers:
            for k, v in values.items():
                self.tb_writers[member].add_scalar(k, v, step)

    def finish(self, summary: Optional[list] = None, images: tuple = ()) -> None:
        """Final metrics (``summary.json``'s member rows) and the run's plots, then close."""
        for i, run in enumerate(self.wandb_runs):
            if summary is not None:
                run.summary.update(_scalars(summary[i]))
            for path in images:
                if Path(path).exists():
                    import wandb

                    run.log({Path(path).stem: wandb.Image(str(path))})
            run.finish()
        for i, w in enumerate(self.tb_writers):
            if summary is not None:
                step = int(summary[i].get("env_steps", 0))
                for k, v in _scalars(summary[i]).items():
                    w.add_scalar(f"final/{k}", v, step)
            w.flush()
            w.close()
        self.wandb_runs, self.tb_writers = [], []


def hyper_config(cfg: Config, member: Any) -> dict:
    """A member's tracker config: its method, seed and every sweepable hyper-parameter."""
    return {"method": cfg.method, "env": cfg.env.name, "seed": member.seed,
            **dict(member.values)}
