"""XLA:CPU settings jaxgan chooses for its users, applied before JAX starts its CPU backend.

jaxlib 0.10 hands convolutions, dots and reductions to YNNPACK by default. On some AVX-512 CPUs
YNNPACK's weight gradients of strided convolutions are much slower than XLA's Eigen
convolutions, while its reductions (batch-norm statistics) are far faster than XLA's own; so
jaxgan keeps YNNPACK for dots and reductions and gives convolutions back to Eigen. The gain
depends on the CPU (large on the Intel Xeon measured, none on the AMD EPYC): docs/performance.md.

XLA reads `XLA_FLAGS` once, when the backend starts. `apply()` is called by the entry points
(launch.py, benchmarks/, tests/conftest.py), not by `import jaxgan`: a library import must not
change process-wide settings for the user's other JAX code, and a notebook opts in with
`jaxgan.xla_cpu.apply()` before it uses JAX. A flag the user already put in `XLA_FLAGS` wins, and
`JAXGAN_KEEP_XLA_FLAGS=1` leaves `XLA_FLAGS` alone.
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import MutableMapping

YNN_FUSION_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
YNN_FUSION_TYPES = "individual_dot,reduce"
OPT_OUT = "JAXGAN_KEEP_XLA_FLAGS"


def add_flags(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Add jaxgan's XLA:CPU flags to `environ["XLA_FLAGS"]`; True when something was added."""
    if environ.get(OPT_OUT, "").strip() not in ("", "0"):
        return False
    flags = environ.get("XLA_FLAGS", "")
    if YNN_FUSION_FLAG in flags:
        return False
    environ["XLA_FLAGS"] = f"{flags} {YNN_FUSION_FLAG}={YNN_FUSION_TYPES}".strip()
    return True


def backend_started() -> bool:
    """Whether JAX has already created its backends (too late for `XLA_FLAGS` to matter)."""
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge  # not public API; jax is pinned to 0.10.x
    return xla_bridge.backends_are_initialized()


def apply() -> None:
    """`add_flags` on this process, with a warning when JAX started before jaxgan was imported."""
    if add_flags() and backend_started():
        warnings.warn(
            "jaxgan.xla_cpu.apply() was called after JAX had started its backend, so its XLA:CPU "
            f"convolution setting ({YNN_FUSION_FLAG}={YNN_FUSION_TYPES}) has no effect and CPU "
            "training may be slower (docs/performance.md); call it before using JAX, or set "
            "XLA_FLAGS yourself.",
            stacklevel=3)
