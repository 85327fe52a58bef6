"""num_seeds: K seeds trained together (one vmapped step, or the one-seed step looped over the
seeds) equal K separate runs, each with its own outputs."""
import json

import jax
import numpy as np
import pytest

from conftest import ROOT, constant_learning_rates, run_launch, tiny_config
from jaxgan import evaluate, seeds
from jaxgan.config import ConfigError, load_config_file, validate
from jaxgan.experiment import RunError, restore_run
from jaxgan.train import train


def state_of(workdir):
    _, state, step = restore_run(workdir)
    return jax.device_get(state), step


def assert_close_states(a, b, rtol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol)


def losses(workdir):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["d_loss"], r["g_loss"]) for r in rows if "d_loss" in r]


@pytest.mark.parametrize("seeds_step", ["vmap", "loop"])
def test_each_seed_equals_its_own_run(tmp_path, monkeypatch, seeds_step):
    c = tiny_config()
    c.seed, c.num_seeds, c.train.seeds_step = 3, 2, seeds_step
    loops = []
    monkeypatch.setattr(seeds, "looped", lambda *a, _looped=seeds.looped: loops.append(a) or _looped(*a))
    mean = train(c, tmp_path / "together")
    assert len(loops) == (seeds_step == "loop")
    summary = json.loads((tmp_path / "together" / seeds.SUMMARY).read_text())
    assert sorted(summary["seeds"]) == ["3", "4"]
    for seed in (3, 4):
        alone = tiny_config()
        alone.seed = seed
        final = train(alone, tmp_path / f"alone_{seed}")
        member = tmp_path / "together" / f"seed_{seed}"
        assert json.loads((member / "config.json").read_text()) == json.loads(
            (tmp_path / f"alone_{seed}" / "config.json").read_text())
        (a, a_step), (b, b_step) = state_of(member), state_of(tmp_path / f"alone_{seed}")
        assert a_step == b_step == 6
        assert_close_states(a, b, rtol=1e-5)
        np.testing.assert_allclose(losses(member), losses(tmp_path / f"alone_{seed}"), rtol=1e-5)
        assert summary["seeds"][str(seed)]["modes_covered"] == final["modes_covered"]
        for name in ("metrics.jsonl", "losses.png", "training.gif", "eval/step_000000006.json"):
            assert (member / name).is_file(), name
    # The seeds really differ, and the summary is their mean.
    a, b = (state_of(tmp_path / "together" / f"seed_{s}")[0] for s in (3, 4))
    assert not np.allclose(jax.tree.leaves(a.g.params)[0], jax.tree.leaves(b.g.params)[0])
    shares = [summary["seeds"][s]["high_quality_pct"] for s in ("3", "4")]
    assert mean["high_quality_pct"] == pytest.approx(np.mean(shares))
    assert summary["std"]["high_quality_pct"] == pytest.approx(np.std(shares, ddof=1))


@pytest.mark.parametrize("seeds_step", ["vmap", "loop"])
def test_multi_seed_run_resumes_exactly(tmp_path, seeds_step):
    c = constant_learning_rates(tiny_config())
    c.num_seeds, c.train.seeds_step = 2, seeds_step
    train(c, tmp_path / "straight")
    c.train.steps = 3
    train(c, tmp_path / "resumed")
    c.train.steps = 6
    train(c, tmp_path / "resumed")
    for seed in (0, 1):
        (a, _), (b, step) = (state_of(tmp_path / run / f"seed_{seed}") for run in ("straight", "resumed"))
        assert step == 6
        assert_close_states(a, b, rtol=0)


def test_image_gan_trains_several_seeds(tmp_path, monkeypatch):
    c = load_config_file(str(ROOT / "configs" / "dcgan.py:fashion_mnist,tiny"))
    c.train.progress_bar, c.train.parallel, c.num_seeds = False, "single", 2
    c.train.steps = c.eval.every_steps = c.viz.every_steps = c.checkpoint.every_steps = 2
    assert seeds.step_mode(c) == "loop"  # 'auto' on CPU
    train(c, tmp_path / "loop")
    for seed in (0, 1):
        member = tmp_path / "loop" / f"seed_{seed}"
        assert (member / "samples" / "step_000000002.png").is_file()
        assert state_of(member)[1] == 2
    result = evaluate.evaluate(tmp_path / "loop" / "seed_1", 64)
    assert result["step"] == 2
    # The vmapped step trains the same seeds to the same states.
    c.train.seeds_step, c.eval.every_steps, c.viz.every_steps = "vmap", 0, 0
    monkeypatch.setattr(seeds, "looped", None)  # must not be used
    train(c, tmp_path / "vmap")
    for seed in (0, 1):
        assert_close_states(*(state_of(tmp_path / run / f"seed_{seed}")[0] for run in ("loop", "vmap")),
                            rtol=2e-4)


def test_seeds_step_auto_loops_on_cpu_and_vmaps_on_accelerators(monkeypatch):
    c = tiny_config()
    assert seeds.step_mode(c) == "loop"  # these tests run on CPU
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert seeds.step_mode(c) == "vmap"
    for mode in ("vmap", "loop"):  # asked for, whatever the backend
        c.train.seeds_step = mode
        assert seeds.step_mode(c) == mode


def test_workdir_holds_one_kind_of_run(tmp_path):
    single, many = tiny_config(), tiny_config()
    single.train.steps = many.train.steps = 3
    many.num_seeds = 2
    train(single, tmp_path / "single")
    with pytest.raises(RunError, match="single-seed run"):
        train(many, tmp_path / "single")
    train(many, tmp_path / "many")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "many").rglob("*"))
    with pytest.raises(RunError, match="multi-seed run"):
        train(single, tmp_path / "many")
    many.num_seeds = 3
    with pytest.raises(RunError, match="num_seeds = 2"):
        train(many, tmp_path / "many")
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "many").rglob("*")) == before
    with pytest.raises(RunError, match="seed_0"):
        restore_run(tmp_path / "many")


def test_num_seeds_config_checks(tmp_path):
    c = tiny_config()
    c.num_seeds = 0
    with pytest.raises(ConfigError, match="num_seeds"):
        validate(c)
    c.num_seeds, c.train.parallel = 2, "pmap"
    with pytest.raises(ConfigError, match="pmap"):
        validate(c)
    c.train.parallel, c.train.seeds_step = "single", "sequential"
    with pytest.raises(ConfigError, match="train.seeds_step.*'loop'"):
        validate(c)
    result = run_launch("--config=configs/gan2d.py:grid,tiny", "--config.num_seeds=2",
                        "--config.train.progress_bar=False", f"--workdir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_launch("--mode=eval", f"--workdir={tmp_path}")
    assert result.returncode == 2 and "seed_0" in result.stderr
