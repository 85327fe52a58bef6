"""Tests for jaxgan.checkpoint: round trips, and recovery from each kind of damage we measured."""

import gc
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from jaxgan.checkpoint import Checkpointer, CheckpointError

REPO = Path(__file__).resolve().parents[1]

# After a failed restore orbax drops its other per-array read coroutines; Python reports them as
# "Exception ignored" when they are garbage collected. Harmless: collect them inside the test that
# caused them (not at interpreter exit) and ignore the report.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def _collect_orbax_leftovers():
    yield
    gc.collect()


@flax.struct.dataclass
class TrainState:
    params: dict
    opt_state: optax.OptState
    key: jax.Array  # uint32 key data, not a typed key
    step: jax.Array


def make_state(seed: int, width: int = 64) -> TrainState:
    """Random (incompressible) weights and a non-trivial adam state after one update."""
    rng = np.random.RandomState(seed)
    params = {"w": jnp.asarray(rng.randn(width, width).astype(np.float32)),
              "b": jnp.asarray(rng.randn(8), dtype=jnp.bfloat16)}
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)
    grads = jax.tree.map(lambda p: jnp.ones_like(p) * 0.5, params)
    _, opt_state = tx.update(grads, opt_state, params)
    return TrainState(params, opt_state, jax.random.key_data(jax.random.key(seed)), jnp.asarray(seed, jnp.int32))


def abstract(state):
    return jax.eval_shape(lambda: state)


def assert_same(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def save_steps(directory, steps, **kw):
    with Checkpointer(directory, **kw) as ckpt:
        for s in steps:
            ckpt.save(s, make_state(s), {"step": s, "config": {"lr": 1e-3}})


# --- Damage, applied to files as orbax 0.12.8 lays them out -------------------------------------
# <step>/state/{_METADATA, manifest.ocdbt, d/<hash>, ocdbt.process_0/d/<hash>, ...};
# <step>/meta/metadata and <step>/digests/metadata are JSON files.


def largest_array_file(step_dir: Path) -> Path:
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"]
    return max(files, key=lambda p: p.stat().st_size)


def flip_bytes(step_dir: Path):
    f = largest_array_file(step_dir)
    data = bytearray(f.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4] = bytes(b ^ 0xFF for b in data[mid:mid + 4])
    f.write_bytes(bytes(data))


DAMAGE = {
    "delete_array_file": lambda d: largest_array_file(d).unlink(),
    "truncate_array_file": lambda d: os.truncate(largest_array_file(d), largest_array_file(d).stat().st_size // 2),
    "flip_bytes": flip_bytes,
    "delete_array_metadata": lambda d: (d / "state" / "_METADATA").unlink(),
    "delete_meta": lambda d: (d / "meta" / "metadata").unlink(),
    "delete_digests": lambda d: (d / "digests" / "metadata").unlink(),
}


def test_round_trip(tmp_path):
    state, meta = make_state(7), {"config": {"lr": 0.001, "name": "dcgan"}, "data_position": [3, 17]}
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        ckpt.save(7, state, meta)
        restored, restored_meta, step = ckpt.restore_latest(abstract(state))
        assert step == 7 and restored_meta == meta and ckpt.read_meta() == meta
        assert_same(restored, state)
        assert isinstance(restored, TrainState)
        assert isinstance(restored.opt_state[0], optax.ScaleByAdamState)
        assert restored.params["b"].dtype == jnp.bfloat16 and restored.key.dtype == jnp.uint32


def test_empty_directory(tmp_path):
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        assert ckpt.latest_step() is None and ckpt.all_steps() == []
        assert ckpt.restore_latest(abstract(make_state(0))) is None
        assert ckpt.read_meta() is None and ckpt.read_meta(5) is None


def test_max_to_keep(tmp_path):
    save_steps(tmp_path / "checkpoints", [1, 2, 3, 4], max_to_keep=2)
    with Checkpointer(tmp_path / "checkpoints", max_to_keep=2) as ckpt:
        assert ckpt.all_steps() == [3, 4] and ckpt.latest_step() == 4
        assert ckpt.read_meta(3)["step"] == 3


def test_saving_existing_step_is_noop(tmp_path):
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        ckpt.save(1, make_state(1), {"v": "first"})
        ckpt.save(1, make_state(2), {"v": "second"})  # still in flight: must not overwrite either
        ckpt.wait()
        ckpt.save(1, make_state(3), {"v": "third"})
        state, meta, step = ckpt.restore_latest(abstract(make_state(1)))
    assert meta == {"v": "first"} and step == 1
    assert_same(state, make_state(1))


def test_async_save_restored_by_new_instance(tmp_path):
    first = Checkpointer(tmp_path / "checkpoints", async_save=True)
    first.save(5, make_state(5), {"step": 5})
    first.wait()
    with Checkpointer(tmp_path / "checkpoints") as second:
        state, meta, step = second.restore_latest(abstract(make_state(5)))
    assert step == 5 and meta == {"step": 5}
    assert_same(state, make_state(5))
    first.close()
    first.close()  # idempotent


def test_flipped_bytes_fool_orbax_itself(tmp_path):
    """The premise for the digests: orbax restores flipped bytes without any error."""
    save_steps(tmp_path / "checkpoints", [1])
    flip_bytes(tmp_path / "checkpoints" / "1")
    target = abstract(make_state(1))
    with ocp.CheckpointManager(tmp_path / "checkpoints") as mgr:
        raw = mgr.restore(1, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))["state"]
    assert not np.array_equal(np.asarray(raw.params["w"]), np.asarray(make_state(1).params["w"]))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_falls_back_past_damaged_step(tmp_path, caplog, damage):
    directory = tmp_path / "checkpoints"
    save_steps(directory, [1, 2])
    DAMAGE[damage](directory / "2")
    with caplog.at_level(logging.WARNING, logger="jaxgan.checkpoint"), Checkpointer(directory) as ckpt:
        state, meta, step = ckpt.restore_latest(abstract(make_state(1)))
        assert step == 1 and meta["step"] == 1
        assert_same(state, make_state(1))
        assert any("step 2" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
        # Moved, not deleted, and the step number is free again.
        assert (tmp_path / "checkpoints_damaged" / "2" / "state").is_dir()
        assert ckpt.all_steps() == [1]
        ckpt.save(2, make_state(22), {"step": 2, "retry": True})
        state, meta, step = ckpt.restore_latest(abstract(make_state(1)))
    assert step == 2 and meta["retry"]
    assert_same(state, make_state(22))


def test_second_damage_at_same_step_gets_suffix(tmp_path):
    directory = tmp_path / "checkpoints"
    save_steps(directory, [1, 2])
    for _ in range(2):
        flip_bytes(directory / "2")
        with Checkpointer(directory) as ckpt:
            assert ckpt.restore_latest(abstract(make_state(1)))[2] == 1
            ckpt.save(2, make_state(2), {"step": 2})
    assert sorted(os.listdir(tmp_path / "checkpoints_damaged")) == ["2", "2-1"]


def test_all_damaged_raises_and_moves_nothing(tmp_path):
    directory = tmp_path / "checkpoints"
    save_steps(directory, [1, 2])
    DAMAGE["truncate_array_file"](directory / "1")
    DAMAGE["flip_bytes"](directory / "2")
    with Checkpointer(directory) as ckpt:
        with pytest.raises(CheckpointError, match="none of the checkpoints") as info:
            ckpt.restore_latest(abstract(make_state(1)))
        assert str(directory) in str(info.value) and "step 1" in str(info.value)
        assert ckpt.all_steps() == [1, 2]
    assert not (tmp_path / "checkpoints_damaged").exists()


def test_incompatible_abstract_state(tmp_path):
    save_steps(tmp_path / "checkpoints", [1])
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        with pytest.raises(CheckpointError, match="incompatible model/config") as info:
            ckpt.restore_latest(abstract(make_state(1, width=32)))
        assert "params['w']" in str(info.value)
        assert ckpt.all_steps() == [1]  # not treated as damage


@flax.struct.dataclass
class FlatGANState:  # the state's layout before it was split per player (December 2026)
    step: jax.Array
    g_params: dict
    g_stats: dict
    d_params: dict
    d_stats: dict
    g_opt: optax.OptState
    d_opt: optax.OptState
    key: jax.Array


def test_checkpoint_of_the_flat_layout_is_refused_and_kept(tmp_path):
    from conftest import tiny_config
    from jaxgan.experiment import Experiment

    exp = Experiment.build(tiny_config())
    new = exp.init_state()
    old = FlatGANState(new.step, new.g.params, new.g.stats, new.d.params, new.d.stats, new.g.opt,
                       new.d.opt, new.key)
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        ckpt.save(2, old, {"config": {}})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        with pytest.raises(CheckpointError, match="before the state was split per player.*Nothing was changed"):
            ckpt.restore_latest(exp.abstract_state())
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_leftover_tmp_dir_is_ignored(tmp_path):
    """What a SIGKILL during an async save leaves behind."""
    directory = tmp_path / "checkpoints"
    save_steps(directory, [1])
    tmp = directory / "2.orbax-checkpoint-tmp" / "state"
    tmp.mkdir(parents=True)
    (tmp / "_METADATA").write_text("{partial")
    with Checkpointer(directory) as ckpt:
        assert ckpt.all_steps() == [1]
        assert ckpt.restore_latest(abstract(make_state(1)))[2] == 1
        ckpt.save(2, make_state(2), {"step": 2})
        assert ckpt.restore_latest(abstract(make_state(2)))[2] == 2
    assert not (directory / "2.orbax-checkpoint-tmp").exists()


def test_unwritable_directory(tmp_path):
    (tmp_path / "file.txt").write_text("not a directory")
    with pytest.raises(CheckpointError, match="file.txt/ckpt"):
        Checkpointer(tmp_path / "file.txt" / "ckpt")


def test_typed_prng_key_rejected(tmp_path):
    state = make_state(1).replace(key=jax.random.key(0))
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        with pytest.raises(CheckpointError, match="key_data"):
            ckpt.save(1, state, {})


SHARDED_SCRIPT = textwrap.dedent("""
    import sys, jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P, AxisType
    from jaxgan.checkpoint import Checkpointer
    assert jax.device_count() == 2
    for i, axis_type in enumerate([AxisType.Explicit, AxisType.Auto]):
        mesh = jax.make_mesh((2,), ("data",), axis_types=(axis_type,))
        rep = NamedSharding(mesh, P())
        state = {"w": jax.device_put(jnp.arange(12.0).reshape(3, 4), rep), "n": jax.device_put(jnp.ones(2), rep)}
        d = f"{sys.argv[1]}/ckpt{i}"
        with Checkpointer(d) as c:
            c.save(1, state, {})
        # Explicit mesh: eval_shape carries an AbstractMesh sharding. Auto: no sharding, so pass one.
        ab = jax.eval_shape(lambda: state)
        if axis_type == AxisType.Auto:
            assert ab["w"].sharding is None
            single = Checkpointer(d).restore_latest(ab)[0]
            assert len(single["w"].sharding.device_set) == 1
            ab = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), ab)
        with Checkpointer(d) as c:
            out, _, _ = c.restore_latest(ab)
        for k in state:
            assert len(out[k].sharding.device_set) == 2 and out[k].sharding.is_fully_replicated, out[k].sharding
            np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(state[k]))
    print("SHARDED_OK")
""")


def test_restore_onto_replicated_sharding(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT, str(tmp_path)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert "SHARDED_OK" in proc.stdout, proc.stderr[-3000:]


def test_best_keeper_keeps_the_lowest_under_one_protocol(tmp_path):
    from jaxgan.checkpoint import BEST_DIR, BestKeeper

    keeper, protocol = BestKeeper(tmp_path), {"generated": {"num": 64}}
    best = lambda: json.loads((tmp_path / BEST_DIR / "best.json").read_text())
    assert keeper.offer(1, make_state(1), {"step": 1}, {"fid/x": 5.0, "kid/x": 1.0}, protocol)
    assert not keeper.offer(2, make_state(2), {"step": 2}, {"fid/x": 6.0}, protocol)  # worse
    assert not keeper.offer(3, make_state(3), {"step": 3}, {"fid/x": float("nan")}, protocol)
    assert keeper.offer(4, make_state(4), {"step": 4}, {"fid/x": 4.0}, protocol)
    assert best() == {"step": 4, "metric": "fid/x", "value": 4.0, "protocol": protocol}
    # Another protocol's number is not comparable: it starts afresh.
    assert keeper.offer(5, make_state(5), {"step": 5}, {"fid/x": 9.0}, {"generated": {"num": 10}})
    with Checkpointer(tmp_path / BEST_DIR) as ckpt:
        state, meta, step = ckpt.restore_latest(abstract(make_state(5)))
    assert step == 5 and meta == {"step": 5}
    assert_same(state, make_state(5))
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST_DIR]  # no .tmp/.old left
    assert BestKeeper(tmp_path, "kid/x").key({"fid/x": 1.0, "kid/x": 2.0}) == "kid/x"
    assert not BestKeeper(tmp_path / "none", "none").offer(1, make_state(1), {}, {"fid/x": 1.0})
    assert not (tmp_path / "none").exists()
