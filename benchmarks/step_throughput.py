"""Train-step throughput of the recipes: compile time, steady-state step time, FLOPs, vs PyTorch.

    python benchmarks/step_throughput.py                               # every entry, Markdown table
    python benchmarks/step_throughput.py --only dcgan64 wgan_gp64 --impl fast xla --json=runs/steps.json
    python benchmarks/step_throughput.py --only dcgan64 --dtype float32 bfloat16
    python benchmarks/step_throughput.py --only dcgan64 wgan_gp64 --torch --repeats 7

Entries (each the recipe's real config; image entries on synthetic data of the recipe's shape):
  gan2d      configs/gan2d.py:grid (batch 100 of 2D points)
  fcgan28    configs/fc_gan.py:mnist (the fully connected GAN, 28x28x1, batch 64)
  dcgan28    configs/dcgan.py:fashion_mnist (28x28x1, batch 64)
  dcgan64    the pytorch/examples DCGAN: configs/dcgan.py:pokemon with the generator's activation
             relu and dropout 0 (64x64x3, ngf = ndf = 64, batch 64, Adam 2e-4 (0.5, 0.999))
  wgan_gp64  configs/wgan_gp.py:pokemon (64x64x3, batch 64, 5 critic updates with the penalty)
  acgan28    configs/acgan.py:fashion_mnist (28x28x1, 10 classes, batch 64)
A variant is `NAME@option,...` with options fast|custom_vjp|im2col|xla (model.*.conv_impl, convolutional
entries), f32|bf16 (model.*.dtype) and reuse (train.reuse_fake: the generator update reuses the critic's
fake batch, as pytorch/examples does; --torch times that PyTorch loop beside dcgan64@reuse), e.g.
`--only dcgan64@xla dcgan64@bf16 dcgan64@reuse`; --impl / --dtype expand every selected entry into those
variants.

The step is built as the trainer builds it (`Experiment.build`, `init_state`, `make_step`,
`jax.jit(step, donate_argnums=0)`) and fed one fixed batch {'x': (n_critic, B, ...)} (+ 'label')
already on the device, so the input pipeline is not timed (benchmarks/input_pipeline.py is).
compile_s is the first call including compilation (block_until_ready). After two warm-up steps,
each repetition times a block of steps long enough (~0.3 s) for the clock, and the median over
repetitions is reported. images_per_s counts the real images the step consumes:
batch_size * n_critic / step time (for gan2d, 2D points). GFLOP/step is the step's model FLOPs
(XLA's cost analysis of the f32 step with XLA's own convolutions, the same for every variant;
the JSON also has each variant's executed FLOPs); the fraction of peak divides model FLOPs per
second by this machine's f32 matmul rate, measured here (4096 x 4096 matmul, median of 5).

With --torch, PyTorch eager references (benchmarks/torch_reference.py) of dcgan64 and wgan_gp64
are timed in the same process, interleaved with the JAX entries repetition by repetition (on a
noisy machine both see the same conditions), on torch.set_num_threads(--threads).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxgan import xla_cpu  # noqa: E402

xla_cpu.apply()  # jaxgan's XLA:CPU setting, as launch.py applies it (before JAX starts)


import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jaxgan import config as config_lib  # noqa: E402
from jaxgan.data import pipeline  # noqa: E402
from jaxgan.experiment import Experiment  # noqa: E402
from jaxgan.models import conv  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Entry:
    recipe: str
    image: tuple[int, int] | None = None  # (size, channels) of the synthetic images
    num_classes: int = 0
    overrides: tuple = ()
    torch: str | None = None  # benchmarks/torch_reference.py step of the same architecture
    torch_reuse: str | None = None  # the same with train.reuse_fake, where PyTorch has it

    @property
    def convolutional(self) -> bool:  # has a conv_impl to choose
        return "conv_impl" in config_lib.load_config_file(str(ROOT / self.recipe)).model.generator


ENTRIES = {
    "gan2d": Entry("configs/gan2d.py:grid"),
    "fcgan28": Entry("configs/fc_gan.py:mnist", (28, 1)),
    "dcgan28": Entry("configs/dcgan.py:fashion_mnist", (28, 1)),
    "dcgan64": Entry("configs/dcgan.py:pokemon", (64, 3),
                     overrides=(("generator", "activation", "relu"), ("generator", "dropout", 0.0)),
                     torch="dcgan", torch_reuse="dcgan_reuse"),  # pytorch/examples' own loop reuses
    "wgan_gp64": Entry("configs/wgan_gp.py:pokemon", (64, 3), torch="wgan_gp"),
    "acgan28": Entry("configs/acgan.py:fashion_mnist", (28, 1), num_classes=10),
}
OPTIONS = {**{impl: ("conv_impl", impl) for impl in conv.IMPLEMENTATIONS},
           "f32": ("dtype", "float32"), "bf16": ("dtype", "bfloat16")}  # model.{generator,critic}.*
TRAIN_OPTIONS = {"reuse": ("reuse_fake", True)}  # train.*
BLOCK_S = 0.3


def config_for(spec: str, lib=config_lib, root: Path = ROOT):
    """The config of entry spec 'NAME[@option,...]' (with `lib`, the config module of another
    jaxgan tree at `root`: benchmarks/compare_revisions.py)."""
    name, _, opts = spec.partition("@")
    entry = ENTRIES[name]
    c = lib.load_config_file(str(root / entry.recipe))
    if entry.image:
        size, channels = entry.image
        c.data.update(source="synthetic", name="shapes", path="", image_size=size, channels=channels,
                      num_classes=entry.num_classes, num_examples=512)
    for net, key, value in entry.overrides:
        c.model[net][key] = value
    for opt in filter(None, opts.split(",")):
        if opt in TRAIN_OPTIONS:
            key, value = TRAIN_OPTIONS[opt]
            c.train[key] = value
            continue
        if opt not in OPTIONS:
            raise SystemExit(f"unknown option {opt!r} in {spec!r}; choose from {sorted(OPTIONS | TRAIN_OPTIONS)}")
        key, value = OPTIONS[opt]
        for net in ("generator", "critic"):
            if key not in c.model[net]:
                raise SystemExit(f"{spec}: model.{net} has no field {key!r}")
            c.model[net][key] = value
    c.train.parallel = "single"
    return lib.validate(c)


def block_time(fn: Callable[[], object], n: int) -> float:
    """Seconds per call of `fn` over `n` back-to-back calls (fn must block)."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def calls_per_block(seconds: float) -> int:
    return max(1, min(1000, math.ceil(BLOCK_S / max(seconds, 1e-6))))


def cost_of(lowered_or_compiled) -> dict:
    cost = lowered_or_compiled.cost_analysis()
    return cost[0] if isinstance(cost, (list, tuple)) else cost


def model_flops(config) -> float:
    """FLOPs of `config`'s step as the maths defines it, the same for every implementation and
    dtype: XLA's estimate for the f32 step with XLA's own convolutions, before optimisation
    (an implementation's executed FLOPs can include zeros, e.g. the sub-pixel kernel's padding).
    What changes the maths (`train.reuse_fake`) counts."""
    c = copy.deepcopy(config)
    for net in (c.model.generator, c.model.critic):
        for key, value in (("dtype", "float32"), ("conv_impl", "xla")):
            if key in net:
                net[key] = value
    exp = Experiment.build(c)
    cost = cost_of(jax.jit(exp.make_step()).lower(exp.abstract_state(), exp.abstract_batch()))
    return float(cost.get("flops", float("nan")))


class TimedStep:
    """A jitted train step with its state and one fixed batch on the device: compile time (the
    first call), then blocks of steps long enough for the clock, one per `repeat()`."""

    def __init__(self, step: Callable, state, batch, compiled: bool = False):
        self.step = step if compiled else jax.jit(step, donate_argnums=0)
        self.state, self.batch = state, jax.device_put(batch)
        start = time.perf_counter()
        first_metrics = self()
        self.compile_s = time.perf_counter() - start
        self.metrics = {k: float(v) for k, v in jax.device_get(first_metrics).items()
                        if getattr(v, "ndim", 0) == 0}
        for _ in range(2):  # warm-up
            self()
        self.n = calls_per_block(block_time(self, 1))
        self.times: list[float] = []

    def __call__(self):
        self.state, metrics = self.step(self.state, self.batch)
        jax.block_until_ready((self.state, metrics))
        return metrics

    def repeat(self):
        self.times.append(block_time(self, self.n))


class JaxEntry(TimedStep):
    def __init__(self, spec: str):
        self.spec, self.config = spec, config_for(spec)
        c = self.config
        exp = Experiment.build(c)
        super().__init__(exp.make_step(), exp.init_state(),
                         next(pipeline.stack(exp.dataset.batches(c.train.batch_size), c.train.n_critic)))
        cost = cost_of(self.step.lower(self.state, self.batch).compile())  # cached executable
        self.flops = float(cost.get("flops", float("nan")))
        self.bytes = float(cost.get("bytes accessed", float("nan")))
        self.model_flops = model_flops(c)

    def result(self, peak_flops: float) -> dict:
        c = self.config
        step_s = statistics.median(self.times)
        images = c.train.batch_size * c.train.n_critic
        g = c.model.generator
        return {
            "recipe": ENTRIES[self.spec.partition("@")[0]].recipe,
            "conv_impl": g.get("conv_impl"), "dtype": g.get("dtype", "float32"),
            "reuse_fake": c.train.reuse_fake,
            "batch_size": c.train.batch_size, "n_critic": c.train.n_critic,
            "compile_s": self.compile_s, "median_step_ms": 1000 * step_s,
            "min_step_ms": 1000 * min(self.times), "max_step_ms": 1000 * max(self.times),
            "steps_per_s": 1 / step_s, "images_per_s": images / step_s,
            "images_per_step": images, "calls_per_repetition": self.n, "repetitions": len(self.times),
            "flops_per_step": self.model_flops, "executed_flops_per_step": self.flops,
            "bytes_accessed_per_step": self.bytes,
            "gflop_per_s": self.model_flops / step_s / 1e9,
            "fraction_of_f32_matmul_peak": self.model_flops / step_s / peak_flops,
            "critic_params": int(sum(x.size for x in jax.tree.leaves(self.state.d.params))),
            "generator_params": int(sum(x.size for x in jax.tree.leaves(self.state.g.params))),
            "last_metrics": self.metrics,
        }


class TorchEntry:
    def __init__(self, kind: str, threads: int):
        import torch

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import torch_reference

        torch.set_num_threads(threads)
        self.step = torch_reference.STEPS[kind]()
        self.kind = kind
        for _ in range(2):
            self.step()
        self.n = calls_per_block(block_time(self.step, 1))
        self.times: list[float] = []

    def repeat(self):
        self.times.append(block_time(self.step, self.n))


def matmul_peak(dtype=jnp.float32, n: int = 4096, repeats: int = 5) -> float:
    """FLOP/s of an n x n matmul on the default device, median of `repeats`."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32).astype(dtype)
    f = jax.jit(lambda a, b: a @ b)
    jax.block_until_ready(f(a, b))
    times = [block_time(lambda: jax.block_until_ready(f(a, b)), 1) for _ in range(repeats)]
    return 2 * n**3 / statistics.median(times)


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "jax": jax.__version__, "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
            "loadavg_at_start": os.getloadavg(), "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def torch_kind(spec: str) -> str | None:
    """The PyTorch reference (torch_reference.STEPS) of the same step as `spec`, if any."""
    name, _, opts = spec.partition("@")
    entry = ENTRIES[name]
    return entry.torch_reuse if "reuse" in opts.split(",") else entry.torch


def table(results: dict, torch_ratios: dict) -> str:
    rows = ["| entry | batch x n_critic | compile (s) | median step (ms) | steps/s | images/s | "
            "GFLOP/step | GFLOP/s | % of f32 matmul peak | PyTorch eager (ms) | PyTorch / JAX |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        t = torch_ratios.get(name)
        rows.append(
            f"| {name} | {r['batch_size']} x {r['n_critic']} | {r['compile_s']:.1f} | "
            f"{r['median_step_ms']:.1f} | {r['steps_per_s']:.2f} | {r['images_per_s']:.0f} | "
            f"{r['flops_per_step'] / 1e9:.2f} | {r['gflop_per_s']:.1f} | "
            f"{100 * r['fraction_of_f32_matmul_peak']:.1f} | "
            + (f"{t['torch_median_step_ms']:.1f} | {t['ratio']:.2f} |" if t else " | |"))
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", default=list(ENTRIES), metavar="NAME[@opt,...]")
    parser.add_argument("--impl", nargs="+", choices=conv.IMPLEMENTATIONS, default=None,
                        help="run every selected conv entry with each conv implementation")
    parser.add_argument("--dtype", nargs="+", choices=("float32", "bfloat16"), default=None,
                        help="run every selected entry with each compute dtype")
    parser.add_argument("--torch", action="store_true", help="time PyTorch eager references too")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads (--torch)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions per entry")
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)

    specs = []
    for spec in args.only:
        name, _, opts = spec.partition("@")
        if name not in ENTRIES:
            parser.error(f"unknown entry {name!r}; choose from {list(ENTRIES)}")
        variants = [opts]
        if args.impl and ENTRIES[name].convolutional:
            variants = [",".join(filter(None, [v, i])) for v in variants for i in args.impl]
        if args.dtype:
            short = {"float32": "f32", "bfloat16": "bf16"}
            variants = [",".join(filter(None, [v, short[d]])) for v in variants for d in args.dtype]
        specs += [name + ("@" + v if v else "") for v in variants]

    info = machine()
    print(f"# {info.get('cpu', '?')}, {info['cpu_count']} CPUs, jax {info['jax']}, "
          f"load average {info['loadavg_at_start'][0]:.2f}", flush=True)
    peak_start = matmul_peak()
    print(f"f32 4096^3 matmul: {peak_start / 1e9:.1f} GFLOP/s", flush=True)

    entries = {}
    for spec in specs:
        print(f"compiling {spec} ...", flush=True)
        entries[spec] = JaxEntry(spec)
        print(f"  {entries[spec].compile_s:.1f} s, {entries[spec].n} step(s) per repetition", flush=True)

    torch_refs, torch_note = {}, None
    if args.torch:
        try:
            import torch
            info["torch"] = torch.__version__
        except ImportError:
            torch_note = "torch is not installed: PyTorch references skipped"
            print(torch_note, flush=True)
        else:
            for kind in sorted({torch_kind(s) for s in specs} - {None}):
                print(f"warming up PyTorch {kind} ...", flush=True)
                torch_refs[kind] = TorchEntry(kind, args.threads)

    for r in range(args.repeats):
        for spec, e in entries.items():
            e.repeat()
            kind = torch_kind(spec)
            # Interleaved: after each JAX entry its PyTorch reference (once per repetition).
            if kind in torch_refs and len(torch_refs[kind].times) <= r:
                torch_refs[kind].repeat()
        print(f"repetition {r + 1}/{args.repeats}: "
              + ", ".join(f"{s} {1000 * e.times[-1]:.0f} ms" for s, e in entries.items())
              + "".join(f", torch {k} {1000 * t.times[-1]:.0f} ms" for k, t in torch_refs.items()),
              flush=True)

    peak_end = matmul_peak()
    peak = max(peak_start, peak_end)
    info.update(f32_matmul_flops_per_s_start=peak_start, f32_matmul_flops_per_s_end=peak_end,
                f32_matmul_peak_used=peak, bf16_matmul_flops_per_s=matmul_peak(jnp.bfloat16),
                loadavg_at_end=os.getloadavg())
    results = {spec: e.result(peak) for spec, e in entries.items()}
    ratios = {}
    for spec, r in results.items():
        kind = torch_kind(spec)
        if kind in torch_refs:
            t_ms = 1000 * statistics.median(torch_refs[kind].times)
            ratios[spec] = {"torch_median_step_ms": t_ms, "ratio": t_ms / r["median_step_ms"],
                            "torch_times_ms": [1000 * t for t in torch_refs[kind].times]}
            r["torch"] = ratios[spec]

    print(f"\nf32 matmul peak {peak_start / 1e9:.1f} GFLOP/s at start, {peak_end / 1e9:.1f} at end; "
          f"bf16 matmul {info['bf16_matmul_flops_per_s'] / 1e9:.1f} GFLOP/s; "
          f"load average {info['loadavg_at_start'][0]:.2f} -> {info['loadavg_at_end'][0]:.2f}\n")
    print(table(results, ratios))
    for spec, t in ratios.items():
        print(f"PyTorch eager / JAX on {spec}: {t['torch_median_step_ms']:.0f} ms / "
              f"{results[spec]['median_step_ms']:.0f} ms = {t['ratio']:.2f}")
    if torch_note:
        print(torch_note)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "entries": results,
                                               "torch_note": torch_note}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
