"""K seeds trained together (`--config.num_seeds=K`) against K separate runs.

    python benchmarks/seeds_throughput.py                        # gan2d, fcgan28 and dcgan28, K = 8
    python benchmarks/seeds_throughput.py --only gan2d --seeds 8 --runs --steps 2000 --json=runs/seeds.json

Step level (always): the entry's train step for one seed, and the two ways `train.seeds_step`
steps K seeds (each with its own initial state and data, as the trainer builds them): 'vmap',
one compiled step over the stacked seeds, and 'loop', the one-seed step called once per seed;
timed interleaved repetition by repetition (median; same method and entries as
benchmarks/step_throughput.py). seed-steps/s = K / K-seed step time, against 1 / single step
time for separate runs; the speed-up is K x single / K-seed step time.

Run level (--runs): wall time of the real trainer for `--steps` steps: one `num_seeds=K` run with
each `train.seeds_step` ('vmap', 'loop') against K runs one after the other (each `train()` in
this process, so its compilation counts; process start-up, which separate launches would also
pay, does not). Periodic evaluation, sample grids and intermediate checkpoints are off; the final
checkpoint and evaluation are on. The table's 'auto' column says which mode a user gets.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from step_throughput import ENTRIES, TimedStep, config_for, machine  # noqa: E402

from jaxgan import monitor, seeds  # noqa: E402
from jaxgan.data import pipeline  # noqa: E402
from jaxgan.experiment import Experiment  # noqa: E402
from jaxgan.train import train  # noqa: E402


class Stepper(TimedStep):
    """One seed's step, or K seeds' stepped as `mode` ('vmap' or 'loop', see jaxgan/seeds.py)
    does it, each seed with its own initial state and data as the trainer builds them."""

    def __init__(self, config, num_seeds: int, mode: str = "vmap"):
        c = config
        first = Experiment.build(seeds.seed_config(c, 0))
        exps = [first] + [first.for_seed(seeds.seed_config(c, k)) for k in range(1, num_seeds)]
        streams = [pipeline.stack(e.dataset.batches(c.train.batch_size), c.train.n_critic) for e in exps]
        if num_seeds == 1:
            super().__init__(first.make_step(), first.init_state(), next(streams[0]))
        else:  # as the trainer steps them
            executor = seeds.make_executor(mode, "single", first.make_step, num_seeds)
            super().__init__(executor.step, executor.place_state(seeds.stack([e.init_state() for e in exps])),
                             executor.place_batch(next(seeds.zip_batches(streams))), compiled=True)


def run_config(name: str, steps: int):
    c = config_for(name)
    c.train.steps, c.train.progress_bar = steps, False
    c.train.log_every_steps = max(1, steps // 10)
    c.eval.every_steps = c.viz.every_steps = 0
    c.checkpoint.every_steps = steps
    return c


def time_runs(name: str, k: int, steps: int) -> dict:
    """Wall seconds of K seeds trained together, with each `train.seeds_step`, and one by one."""
    result = {"steps": steps}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("vmap", "loop"):
            c = run_config(name, steps)
            c.num_seeds, c.train.seeds_step = k, mode
            start = time.perf_counter()
            train(c, Path(tmp) / mode)
            result[f"{mode}_s"] = time.perf_counter() - start
        start = time.perf_counter()
        for s in range(k):
            c = run_config(name, steps)
            c.seed = s
            train(c, Path(tmp) / f"alone_{s}")
        result["separate_s"] = time.perf_counter() - start
    for mode in ("vmap", "loop"):
        result[f"{mode}_speedup"] = result["separate_s"] / result[f"{mode}_s"]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", default=["gan2d", "fcgan28", "dcgan28"],
                        help=f"entries NAME[@option,...], NAME one of {list(ENTRIES)} (as in step_throughput.py)")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", action="store_true", help="also time whole trainer runs")
    parser.add_argument("--steps", type=int, default=1000, help="train steps per run (--runs)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    monitor.quiet_library_logs()
    info = machine()
    print(f"# {info.get('cpu', '?')}, {info['cpu_count']} CPUs, jax {info['jax']}, "
          f"load average {info['loadavg_at_start'][0]:.2f}", flush=True)

    k, results = args.seeds, {}
    for name in args.only:
        if name.partition("@")[0] not in ENTRIES:
            parser.error(f"unknown entry {name!r}; choose from {list(ENTRIES)}")
        config = config_for(name)
        steppers = {"single": Stepper(config, 1), "vmap": Stepper(config, k, "vmap"),
                    "loop": Stepper(config, k, "loop")}
        print(f"{name}: compiled in " + ", ".join(f"{s.compile_s:.1f} s ({mode})" for mode, s in steppers.items()),
              flush=True)
        for _ in range(args.repeats):  # interleaved, so all see the same machine
            for stepper in steppers.values():
                stepper.repeat()
        t1 = statistics.median(steppers["single"].times)
        r = results[name] = {"num_seeds": k, "auto": seeds.step_mode(config)}
        for mode, stepper in steppers.items():
            t = statistics.median(stepper.times)
            n = 1 if mode == "single" else k
            r[mode] = {"compile_s": stepper.compile_s, "median_step_ms": 1000 * t, "seed_steps_per_s": n / t,
                       "speedup": n * t1 / t, "times_ms": [1000 * x for x in stepper.times]}
        del steppers
        if args.runs:
            print(f"{name}: timing {k} seeds together and {k} separate runs of {args.steps} steps ...",
                  flush=True)
            results[name]["runs"] = time_runs(name, k, args.steps)
    info["loadavg_at_end"] = os.getloadavg()

    print(f"\nload average {info['loadavg_at_start'][0]:.2f} -> {info['loadavg_at_end'][0]:.2f}\n")
    print("| entry | K | step, 1 seed (ms) | K seeds: vmap / loop (ms) | seed-steps/s: separate / vmap / loop | "
          "compile 1 / vmap (s) | 'auto' | runs: K separate / together with vmap / loop (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        runs, one, vmap, loop = r.get("runs"), r["single"], r["vmap"], r["loop"]
        print(f"| {name} | {k} | {one['median_step_ms']:.2f} | {vmap['median_step_ms']:.1f} / "
              f"{loop['median_step_ms']:.1f} | {one['seed_steps_per_s']:.1f} / {vmap['seed_steps_per_s']:.1f} "
              f"({vmap['speedup']:.2f}x) / {loop['seed_steps_per_s']:.1f} ({loop['speedup']:.2f}x) | "
              f"{one['compile_s']:.1f} / {vmap['compile_s']:.1f} | {r['auto']} | "
              + (f"{runs['separate_s']:.0f} / {runs['vmap_s']:.0f} ({runs['vmap_speedup']:.2f}x) / "
                 f"{runs['loop_s']:.0f} ({runs['loop_speedup']:.2f}x), {runs['steps']} steps |" if runs else " |"))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "entries": results}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
