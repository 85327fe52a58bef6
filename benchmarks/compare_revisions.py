"""Step times of this tree against an earlier git revision, interleaved in one process.

A redesign must not slow the step down, and runs minutes apart on these VMs drift more than the
difference sought. So the revision's `jaxgan` is exported (`git archive`) and imported under
another name (`jaxgan_base`), both trees build each entry of benchmarks/step_throughput.py from
their own recipes, and their timed blocks alternate: base, this tree, base, ... Prints each
entry's median step time of both, their ratio and the median of the per-repetition ratios
("paired"), and optionally writes JSON.

With `--costs`, it compares only what XLA compiles for each entry's step in both trees (FLOPs,
bytes accessed, optimised HLO instructions), which needs no quiet machine.

With `--recipes`, it first trains each recipe a few steps in both trees from the same seed and
says whether the parameters and metrics are bit-identical (a refactoring should leave them so).

    python benchmarks/compare_revisions.py --base=ccadcc9 --only gan2d dcgan28 dcgan64 wgan_gp64 \\
        --repeats 7 --json runs/bench/compare_ccadcc9.json
    python benchmarks/compare_revisions.py --base=ccadcc9 --only --recipes gan2d.py \\
        dcgan.py:fashion_mnist,tiny wgan_gp.py:initials_v2,tiny acgan.py:fashion_mnist,tiny
"""
from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import step_throughput as st  # noqa: E402  (imports this tree's jaxgan first: its XLA flags apply)

import jax  # noqa: E402
import numpy as np  # noqa: E402

IMPORTS = re.compile(r"^(\s*)(from|import) jaxgan\b", re.M)
OWNER_NAMES = re.compile(r"""(["'])jaxgan\.""")


def export(revision: str, into: Path) -> Path:
    """The revision's package as `jaxgan_base` and its configs, under `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "jaxgan", "configs"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "jaxgan").rename(into / "jaxgan_base")
    for path in list((into / "jaxgan_base").rglob("*.py")) + list((into / "configs").glob("*.py")):
        path.write_text(IMPORTS.sub(r"\1\2 jaxgan_base", path.read_text()))
    # Modules named in strings (the config sections' owners) must be the revision's too.
    sections = into / "jaxgan_base" / "sections.py"
    if sections.exists():
        sections.write_text(OWNER_NAMES.sub(r'\1jaxgan_base.', sections.read_text()))
    return into


def _modules(package: str):
    """(config, experiment, data.pipeline) of the tree imported as `package`."""
    return tuple(importlib.import_module(f"{package}.{name}") for name in ("config", "experiment", "data.pipeline"))


def timed(root: Path, package: str, spec: str) -> st.TimedStep:
    lib, experiment, pipeline = _modules(package)
    c = st.config_for(spec, lib, root)
    exp = experiment.Experiment.build(c)
    batch = next(pipeline.stack(exp.dataset.batches(c.train.batch_size), c.train.n_critic))
    return st.TimedStep(exp.make_step(), exp.init_state(), batch)


def trained(root: Path, package: str, recipe: str, steps: int) -> tuple[list, dict]:
    lib, experiment, pipeline = _modules(package)
    c = lib.load_config_file(str(root / "configs" / recipe))
    c.train.parallel = "single"
    exp = experiment.Experiment.build(c)
    step, state = jax.jit(exp.make_step()), exp.init_state()
    batches = pipeline.stack(exp.dataset.batches(c.train.batch_size), c.train.n_critic)
    for _ in range(steps):
        state, metrics = step(state, next(batches))
    state = jax.device_get(state)
    # Both layouts hold the same arrays; compare the networks' parameters and optimizer states.
    players = [(state.g.params, state.g.opt, state.d.params, state.d.opt)] if hasattr(state, "g") else \
        [(state.g_params, state.g_opt, state.d_params, state.d_opt)]
    return jax.tree.leaves(players), {k: float(v) for k, v in jax.device_get(metrics).items()}


def same_numbers(base_root: Path, recipes: list[str], steps: int) -> dict:
    out = {}
    for recipe in recipes:
        (a, ma), (b, mb) = trained(base_root, "jaxgan_base", recipe, steps), trained(ROOT, "jaxgan", recipe, steps)
        same = ma == mb and len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
        out[recipe] = {"bit_identical": same, "metrics_base": ma, "metrics_new": mb}
        print(f"{recipe}: {'bit-identical' if same else 'DIFFERENT'} after {steps} steps", flush=True)
    return out


def compiled_cost(root: Path, package: str, spec: str) -> dict:
    lib, experiment, _ = _modules(package)
    exp = experiment.Experiment.build(st.config_for(spec, lib, root))
    compiled = jax.jit(exp.make_step(), donate_argnums=0).lower(exp.abstract_state(), exp.abstract_batch()).compile()
    cost = st.cost_of(compiled)
    hlo = compiled.as_text()
    return {"flops": float(cost.get("flops", float("nan"))), "bytes": float(cost.get("bytes accessed", float("nan"))),
            "hlo_instructions": sum(1 for line in hlo.splitlines() if " = " in line)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="git revision to compare against")
    p.add_argument("--only", nargs="*", default=["gan2d", "dcgan28", "dcgan64", "wgan_gp64"])
    p.add_argument("--recipes", nargs="*", default=[], help="configs/ specs to check for equal numbers")
    p.add_argument("--steps", type=int, default=3, help="train steps of each --recipes check")
    p.add_argument("--costs", action="store_true", help="compare compiled costs instead of timing")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_root = export(args.base, Path(tmp))
        sys.path.insert(0, str(base_root))
        numbers = same_numbers(base_root, args.recipes, args.steps)
        if args.costs:
            costs = {spec: {"base": compiled_cost(base_root, "jaxgan_base", spec),
                            "new": compiled_cost(ROOT, "jaxgan", spec)} for spec in args.only}
            print("| entry | FLOPs base / new | bytes base / new | HLO instructions base / new |\n|---|---|---|---|")
            for spec, c in costs.items():
                b, n = c["base"], c["new"]
                print(f"| {spec} | {b['flops']:.4g} / {n['flops']:.4g} | {b['bytes']:.4g} / {n['bytes']:.4g} | "
                      f"{b['hlo_instructions']} / {n['hlo_instructions']} |", flush=True)
            if args.json:
                Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                Path(args.json).write_text(json.dumps({"base": args.base, "costs": costs, "numbers": numbers}, indent=2))
            return 0
        info = st.machine()
        print(f"# {info.get('cpu', '?')}, load average {info['loadavg_at_start'][0]:.2f}", flush=True)
        pairs = {}
        for spec in args.only:
            print(f"compiling {spec} (base, this tree) ...", flush=True)
            pairs[spec] = (timed(base_root, "jaxgan_base", spec), timed(ROOT, "jaxgan", spec))
        for r in range(args.repeats if pairs else 0):
            for base, new in pairs.values():
                base.repeat()
                new.repeat()
            print(f"repetition {r + 1}/{args.repeats}: " + ", ".join(
                f"{s} {1000 * b.times[-1]:.1f} / {1000 * n.times[-1]:.1f} ms" for s, (b, n) in pairs.items()),
                flush=True)
    results = {}
    if pairs:
        print(f"\n| entry | {args.base} median (ms) | this tree median (ms) | this / base | paired |\n"
              "|---|---|---|---|---|")
    for spec, (base, new) in pairs.items():  # (none without --only)
        b, n = statistics.median(base.times), statistics.median(new.times)
        # Neighbouring blocks share the VM's slow and fast moments: the median of the
        # per-repetition ratios is steadier than the ratio of the medians.
        paired = statistics.median(nt / bt for bt, nt in zip(base.times, new.times))
        results[spec] = {"base_ms": 1000 * b, "new_ms": 1000 * n, "ratio": n / b, "paired_ratio": paired,
                         "base_times_ms": [1000 * t for t in base.times],
                         "new_times_ms": [1000 * t for t in new.times],
                         "compile_s": {"base": base.compile_s, "new": new.compile_s}}
        print(f"| {spec} | {1000 * b:.1f} | {1000 * n:.1f} | {n / b:.3f} | {paired:.3f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "base": args.base, "entries": results,
                                               "numbers": numbers}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
