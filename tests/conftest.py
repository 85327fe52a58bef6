"""Shared test helpers: tiny configs of the real recipes, and running launch.py."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxgan import xla_cpu  # noqa: E402

# Tests compile far more than they run (tiny configs, a few steps each), and LLVM's optimisation
# of every compiled program costs more there than it saves, so the test processes, and the
# launch.py subprocesses that inherit their environment, compile without it. Results differ from
# an optimised build by float rounding only, and every numerical test compares runs made alike.
# JAXGAN_TEST_XLA_BACKEND_OPT=2 runs the suite as users run.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    level = os.environ.get("JAXGAN_TEST_XLA_BACKEND_OPT", "0")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level={level}".strip()
xla_cpu.apply()  # the tests run what launch.py runs (jaxgan/xla_cpu.py)


def tiny_config(arg: str = "grid,tiny"):
    from jaxgan.config import load_config_file

    c = load_config_file(str(ROOT / "configs" / f"gan2d.py:{arg}"))
    c.train.progress_bar = False
    c.train.parallel = "single"
    return c


def run_launch(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run launch.py as a user would, from the repository root."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def constant_learning_rates(c):
    """Runs that change train.steps between sessions need rates that do not depend on it."""
    c.optimizer.generator.schedule = c.optimizer.critic.schedule = "constant"
    return c


def require_debian_package(path, package):
    """Skip without the package, except where CI installed it (JAXGAN_REQUIRE_SYSTEM_DATA=1)."""
    if Path(path).exists():
        return
    if os.environ.get("JAXGAN_REQUIRE_SYSTEM_DATA") == "1":
        pytest.fail(f"{path} is missing though JAXGAN_REQUIRE_SYSTEM_DATA=1: apt-get install {package}")
    pytest.skip(f"{package} is not installed (apt-get install {package})")


@pytest.fixture
def config():
    return tiny_config()


def stop_with_sigterm_after(step_at, monkeypatch):
    """SIGTERM to this process once step `step_at` ran (in-process: no JAX import to pay)."""
    from jaxgan import parallel

    make = parallel.make_executor

    def make_executor(*args, **kwargs):
        executor = make(*args, **kwargs)
        inner, count = executor.step, [0]

        def step(state, batch):
            out = inner(state, batch)
            count[0] += 1
            if count[0] == step_at:
                os.kill(os.getpid(), signal.SIGTERM)
            return out

        executor.step = step
        return executor

    monkeypatch.setattr(parallel, "make_executor", make_executor)
