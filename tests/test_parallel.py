"""One device, a sharded mesh and pmap give the same results for the same global batch."""
import json
import os
import subprocess
import sys

import numpy as np

from conftest import ROOT


def test_mesh_and_pmap_match_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "PYTHONPATH": str(ROOT / "tests")}
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "parallel_worker.py"),
                          "single", "mesh", "pmap", "single_reuse", "mesh_reuse", "pmap_reuse",
                          "single_ext", "mesh_ext", "pmap_ext"],
                         env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    # The step as configured, with train.reuse_fake, and with the extensions (DiffAugment,
    # instance noise, EMA, replay).
    for suffix in ("", "_reuse", "_ext"):
        single = results["single" + suffix]
        assert single["num_devices"] == 1
        for mode in ("mesh" + suffix, "pmap" + suffix):
            assert results[mode]["num_devices"] == 4
            for key, value in single["metrics"].items():
                np.testing.assert_allclose(results[mode]["metrics"][key], value, rtol=1e-4, atol=1e-5,
                                           err_msg=f"{mode} metric {key}")
            for a, b in zip(single["leaves"], results[mode]["leaves"]):
                np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=mode)


def test_multi_seed_trainer_on_a_mesh_matches_one_seed_alone():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "PYTHONPATH": str(ROOT / "tests")}
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "parallel_worker.py"),
                          "seeds_mesh", "seeds_loop_mesh", "seed1_single"], env=env, capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for mode in ("seeds_mesh", "seeds_loop_mesh"):
        assert results[mode]["num_devices"] == 4
        for a, b in zip(results["seed1_single"]["leaves"], results[mode]["leaves"]):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=mode)
