"""Config validation: every mistake is named with its field, value and what is allowed."""
import ml_collections
import pytest

from conftest import ROOT, constant_learning_rates, run_launch, tiny_config
from jaxgan import config as config_lib
from jaxgan.config import ConfigError, validate


@pytest.mark.parametrize("arg", ["grid", "ring", "gaussian", "grid,tiny"])
def test_recipes_validate(arg):
    validate(config_lib.load_config_file(str(ROOT / f"configs/gan2d.py:{arg}")))


@pytest.mark.parametrize("path, value, message", [
    ("model.z_dim", 0, "model.z_dim = 0: must be int >= 1"),
    ("optimizer.critic.lr", -1e-4, "optimizer.critic.lr = -0.0001: must be float > 0.0"),
    ("loss.name", "wgan", "loss.name = 'wgan': must be one of 'minimax'"),
    ("data.name", "spiral", "data.name = 'spiral': must be one of 'ring', 'grid', 'gaussian'"),
    ("data.source", "nowhere", "data.source = 'nowhere': must be one of"),
    ("train.batch_size", "64", "train.batch_size = '64': must be int"),
    ("model.generator.activation", "swish", "model.generator.activation = 'swish': must be one of"),
    ("model.critic.dropout", 1.5, "model.critic.dropout = 1.5: must be float >= 0.0 and < 1.0"),
    ("train.progress_bar", 1, "train.progress_bar = 1: must be bool"),
])
def test_bad_values_name_field_value_and_allowed(config, path, value, message):
    # Built from a plain dict, as a config file may be, so ConfigDict's own type checks do not
    # stand in for validation.
    tree = config.to_dict()
    *parents, key = path.split(".")
    node = tree
    for part in parents:
        node = node[part]
    node[key] = value
    with pytest.raises(ConfigError) as e:
        validate(ml_collections.ConfigDict(tree))
    assert message in str(e.value)


def test_unknown_key_suggests_closest(config):
    config.model.zdim = 3
    with pytest.raises(ConfigError, match="unknown config key 'model.zdim'; did you mean 'model.z_dim'"):
        validate(config)


def test_cross_field_rules(config):
    config.model.critic.pack = 3
    config.train.batch_size = 100
    with pytest.raises(ConfigError, match="multiple of model.critic.pack"):
        validate(config)
    config = tiny_config()
    config.loss.name, config.loss.real_label = "wasserstein", 0.9
    with pytest.raises(ConfigError, match="label smoothing"):
        validate(config)


def test_check_overrides():
    c = tiny_config()
    config_lib.check_overrides(c, ["--config.model.z_dim=3"])
    with pytest.raises(ConfigError, match="did you mean --config.train.steps"):
        config_lib.check_overrides(c, ["--config.train.stepz=3"])


def test_incompatible_keys_ignore_run_length():
    a, b = constant_learning_rates(tiny_config()).to_dict(), constant_learning_rates(tiny_config())
    b.train.steps, b.checkpoint.every_steps, b.eval.every_steps = 99, 7, 5
    assert config_lib.incompatible_keys(a, b.to_dict()) == []
    b.model.z_dim = 7
    assert config_lib.incompatible_keys(a, b.to_dict()) == [f"model.z_dim: checkpoint has {a['model']['z_dim']}, now 7"]


def test_launch_reports_config_errors_without_traceback(tmp_path):
    for args, message in [
        (["--config.model.zdim=3"], "did you mean --config.model.z_dim"),
        (["--config.model.z_dim=0"], "model.z_dim = 0: must be int >= 1"),
        (["--config=configs/missing.py"], "config file 'configs/missing.py' not found"),
    ]:
        result = run_launch("--config=configs/gan2d.py:grid,tiny", *args, f"--workdir={tmp_path}/w")
        assert result.returncode != 0
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "w").exists()  # nothing was created for a rejected config


def test_train_steps_fixed_when_learning_rate_decays():
    a, b = constant_learning_rates(tiny_config()), constant_learning_rates(tiny_config())
    a.optimizer.critic.schedule = b.optimizer.critic.schedule = "cosine"
    b.train.steps = 99
    assert config_lib.incompatible_keys(a.to_dict(), b.to_dict()) == ["train.steps: checkpoint has 6, now 99"]
