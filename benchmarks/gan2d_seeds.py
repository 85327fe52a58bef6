"""Train a 2D recipe for several seeds and print the PacGAN Table 1 measures per seed and mean.

    python benchmarks/gan2d_seeds.py --config=configs/gan2d.py:grid --seeds=5 --out=runs/grid_seeds

Each seed is a full, independent run of the real trainer (its own workdir under --out), timed
wall clock including compilation. Prints a Markdown table and writes <out>/summary.json.
"""
import json
import sys
import time
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxgan import xla_cpu  # noqa: E402

xla_cpu.apply()  # jaxgan's XLA:CPU setting, as launch.py applies it (before JAX starts)


from jaxgan import monitor  # noqa: E402
from jaxgan.config import load_config_file  # noqa: E402
from jaxgan.train import train  # noqa: E402

_CONFIG = flags.DEFINE_string("config", "configs/gan2d.py:grid", "Config file[:argument].")
_SEEDS = flags.DEFINE_integer("seeds", 5, "Seeds 0..N-1.")
_OUT = flags.DEFINE_string("out", "runs/gan2d_seeds", "Parent directory of the per-seed workdirs.")
_STEPS = flags.DEFINE_integer("steps", None, "Override train.steps.")

COLUMNS = ("modes_covered", "high_quality_pct", "reverse_kl", "spread_ratio")


def main(_):
    monitor.quiet_library_logs()
    out = Path(_OUT.value)
    rows = []
    for seed in range(_SEEDS.value):
        config = load_config_file(_CONFIG.value)
        config.seed = seed
        config.train.progress_bar = False
        if _STEPS.value:
            config.train.steps = _STEPS.value
        start = time.perf_counter()
        metrics = train(config, out / f"seed_{seed}")
        rows.append({"seed": seed, **metrics, "wall_s": time.perf_counter() - start})
        print(json.dumps(rows[-1]), flush=True)
    keys = [k for k in COLUMNS if k in rows[0]] or [k for k in rows[0] if k not in ("seed", "wall_s")]
    print(f"\n{_CONFIG.value}, {config.train.steps} steps\n")
    print("| seed | " + " | ".join(keys) + " | wall time (s) |")
    print("|---" * (len(keys) + 2) + "|")
    for r in rows:
        print(f"| {r['seed']} | " + " | ".join(f"{r[k]:.4g}" for k in keys) + f" | {r['wall_s']:.0f} |")
    means = {k: sum(r[k] for r in rows) / len(rows) for k in keys + ["wall_s"]}
    print("| mean | " + " | ".join(f"{means[k]:.4g}" for k in keys) + f" | {means['wall_s']:.0f} |")
    (out / "summary.json").write_text(json.dumps({"config": _CONFIG.value, "rows": rows, "mean": means}, indent=2))


if __name__ == "__main__":
    app.run(main)
