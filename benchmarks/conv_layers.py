"""Per-layer timing of the convolution implementations in jaxgan/models/conv.py, interleaved.

    python benchmarks/conv_layers.py                                   # dcgan64 layers, every impl
    python benchmarks/conv_layers.py --net dcgan28 --vmap 8 --impl fast im2col
    python benchmarks/conv_layers.py --modes gp --layers D1 D2 --repeats 9

The layers are those of the recipes' networks at batch 64 (kernel 4, stride 2, padding 1):
generator layers G1.. are transposed convolutions (ConvTranspose), critic layers D1.. strided
convolutions (Conv). Each layer is timed in up to three modes:
  fwd  the layer's output;
  bwd  output and the gradients of <y, r> with respect to input and kernel (a training step's
       forward plus backward);
  gp   critic layers only: the kernel gradient of ||d<y, r>/dx||^2, the double backward a
       gradient penalty takes (WGAN-GP), together with its forward and first backward.
With --vmap K the same computations run under jax.vmap over K stacked kernels and inputs (K
independent models, as a `num_seeds` run trains them).

Every implementation of one (layer, mode) is compiled first; then repetitions alternate between
them (A, B, C, A, B, C, ...), each timing a block of calls of ~0.3 s, and the median per call is
reported, so all candidates see the same machine load. Results are checked to agree with 'xla'.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from jaxgan import xla_cpu  # noqa: E402

xla_cpu.apply()  # jaxgan's XLA:CPU setting, as launch.py applies it (before JAX starts)


import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jaxgan.models import conv  # noqa: E402
from step_throughput import block_time, calls_per_block  # noqa: E402

# (name, kind, input size, input channels, output size, output channels), batch 64.
NETS = {
    "dcgan64": [("G1", "T", 4, 512, 8, 256), ("G2", "T", 8, 256, 16, 128), ("G3", "T", 16, 128, 32, 64),
                ("G4", "T", 32, 64, 64, 3),
                ("D1", "C", 64, 3, 32, 64), ("D2", "C", 32, 64, 16, 128), ("D3", "C", 16, 128, 8, 256),
                ("D4", "C", 8, 256, 4, 512)],
    "dcgan28": [("G1", "T", 7, 128, 14, 64), ("G2", "T", 14, 64, 28, 1),
                ("D1", "C", 28, 1, 14, 64), ("D2", "C", 14, 64, 7, 128)],
}
STRIDES, PADS, KERNEL = (2, 2), ((1, 1), (1, 1)), 4


def layer_fn(kind: str, impl: str, out_size: int):
    """y = layer(x, w) for one example batch (no vmap)."""
    if kind == "C":
        return lambda x, w: conv.conv_any(x, w, STRIDES, PADS, impl)
    return lambda x, w: conv.conv_transpose_any(x, w, STRIDES, PADS, (x.shape[0], out_size, out_size, w.shape[2]),
                                                impl)


def mode_fn(mode: str, f):
    if mode == "fwd":
        return f
    if mode == "bwd":
        def bwd(x, w, r):
            y, vjp = jax.vjp(f, x, w)
            return y, *vjp(r)
        return bwd

    def gp(x, w, r):
        def penalty(w):
            g = jax.grad(lambda x: jnp.sum(f(x, w) * r))(x)
            return jnp.sum(g ** 2)
        return jax.value_and_grad(penalty)(w)
    return gp


def inputs(layer, batch: int, k: int | None):
    name, kind, s_in, c_in, s_out, c_out = layer
    lead = (k,) if k else ()
    keys = jax.random.split(jax.random.key(hash(name) % 2**31), 3)
    x = jax.random.normal(keys[0], lead + (batch, s_in, s_in, c_in))
    # HWIO kernel of the forward conv: for a transposed layer, I = its outputs, O = its inputs.
    w_shape = (KERNEL, KERNEL, c_in, c_out) if kind == "C" else (KERNEL, KERNEL, c_out, c_in)
    w = 0.02 * jax.random.normal(keys[1], lead + w_shape)
    r = jax.random.normal(keys[2], lead + (batch, s_out, s_out, c_out))
    return x, w, r


def max_rel_diff(a, b) -> float:
    a, b = jax.tree.leaves(a), jax.tree.leaves(b)
    return max(float(jnp.max(jnp.abs(u - v)) / (jnp.max(jnp.abs(v)) + 1e-30)) for u, v in zip(a, b))


def bench(layer, mode: str, impls: list[str], batch: int, k: int | None, repeats: int) -> dict:
    kind, s_out = layer[1], layer[4]
    x, w, r = inputs(layer, batch, k)
    args = (x, w) if mode == "fwd" else (x, w, r)
    runs, ref = {}, None
    for impl in ["xla"] + [i for i in impls if i != "xla"]:
        f = mode_fn(mode, layer_fn(kind, impl, s_out))
        f = jax.jit(jax.vmap(f) if k else f)
        start = time.perf_counter()
        out = jax.block_until_ready(f(*args))
        compile_s = time.perf_counter() - start
        if impl == "xla":
            ref = out
        if impl not in impls:
            continue
        call = lambda f=f: jax.block_until_ready(f(*args))
        call()
        n = calls_per_block(block_time(call, 1))
        runs[impl] = dict(call=call, n=n, times=[], compile_s=compile_s, diff=max_rel_diff(out, ref))
    for _ in range(repeats):
        for run in runs.values():
            run["times"].append(block_time(run["call"], run["n"]))
    return {impl: dict(ms=1000 * statistics.median(run["times"]), compile_s=run["compile_s"], diff=run["diff"])
            for impl, run in runs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", choices=sorted(NETS), default="dcgan64")
    parser.add_argument("--layers", nargs="+", default=None, help="layer names (default: all)")
    parser.add_argument("--impl", nargs="+", default=list(conv.IMPLEMENTATIONS), choices=conv.IMPLEMENTATIONS)
    parser.add_argument("--modes", nargs="+", default=["fwd", "bwd", "gp"], choices=("fwd", "bwd", "gp"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--vmap", type=int, default=0, metavar="K", help="vmap over K stacked models")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    print(f"# {args.net}, batch {args.batch}" + (f", vmap over K={args.vmap}" if args.vmap else "")
          + f", median ms per call over {args.repeats} interleaved repetitions (max rel. diff to xla)")
    print("| layer | shape | mode | " + " | ".join(args.impl) + " |")
    print("|---|---|---|" + "---|" * len(args.impl))
    for layer in NETS[args.net]:
        name, kind, s_in, c_in, s_out, c_out = layer
        if args.layers and name not in args.layers:
            continue
        for mode in args.modes:
            if mode == "gp" and kind != "C":
                continue
            res = bench(layer, mode, args.impl, args.batch, args.vmap or None, args.repeats)
            best = min(r["ms"] for r in res.values())
            cells = [f"{'**' if r['ms'] == best else ''}{r['ms']:.1f}{'**' if r['ms'] == best else ''}"
                     f" ({r['diff']:.0e})" for r in res.values()]
            shape = f"{'convT' if kind == 'T' else 'conv'} {s_in}x{s_in}x{c_in}->{s_out}x{s_out}x{c_out}"
            print(f"| {name} | {shape} | {mode} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
