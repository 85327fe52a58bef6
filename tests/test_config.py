"""Config validation: every mistake is named with its field, value and what is allowed."""
import json
import subprocess
import sys

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
    config = tiny_config()
    config.loss.update(lecam=0.3, lecam_start_step=config.train.steps)
    with pytest.raises(ConfigError, match="never applies.*lecam_start_step"):
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


def test_keys_added_since_a_run_was_saved_block_resume_only_when_changed():
    saved, current = tiny_config().to_dict(), tiny_config()
    del saved["ema"]  # a run saved before the ema section existed
    assert config_lib.incompatible_keys(saved, current.to_dict()) == []
    current.ema.decay = 0.999
    assert config_lib.incompatible_keys(saved, current.to_dict()) == [
        "ema.decay: checkpoint has '<absent>', now 0.999"]
    # The image recipes' networks lack the default MLP's fields: absent on both sides is no
    # difference (eb835e2 refused every DCGAN resume).
    for spec in ("dcgan.py:fashion_mnist,tiny", "sngan.py:fashion_mnist,tiny"):
        c = config_lib.load_config_file(str(ROOT / "configs" / spec)).to_dict()
        assert config_lib.incompatible_keys(c, c) == [], spec


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


def test_config_machinery_imports_no_owner():
    # Owners import jaxgan.config to declare their sections; the reverse would be a cycle.
    code = ("import sys, jaxgan; before = set(sys.modules); import jaxgan.config; "
            "print(sorted(m for m in set(sys.modules) - before if m.startswith('jaxgan')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "['jaxgan.config']", result.stderr


def test_each_key_is_declared_once_by_one_section():
    base = config_lib.base_config()
    owners = {}
    for section in config_lib.sections():
        one = {}
        config_lib._field_paths(section.fields, section.prefix(), base if not section.name else base[section.name], one)
        for path in one:
            assert path not in owners, f"{path} declared by {owners[path]!r} and {section.name!r}"
            owners[path] = section.name
    assert set(owners) == set(config_lib.flatten(base))
    assert not hasattr(config_lib, "RULES")  # no second list of keys beside the sections


@pytest.mark.parametrize("path, value, message", [
    ("optimizer.critic.lr", float("nan"), "optimizer.critic.lr = nan: must be a finite float > 0.0"),
    ("optimizer.generator.lr", float("inf"), "optimizer.generator.lr = inf: must be a finite float > 0.0"),
    ("loss.real_label", float("nan"), "loss.real_label = nan: must be a finite float >= 0.0 and <= 1.0"),
    ("data.sigma", float("-inf"), "data.sigma = -inf: must be a finite float >= 0.0"),
    ("model.critic.dropout", float("nan"), "model.critic.dropout = nan: must be a finite float"),
])
def test_nan_and_inf_are_rejected(config, path, value, message):
    *parents, key = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[key] = value
    with pytest.raises(ConfigError) as e:
        validate(config)
    assert message in str(e.value)


def test_unknown_key_of_a_section_suggests_its_closest_key(config):
    config.optimizer.critic.lrr = 1e-3
    config.train.batchsize = 8
    with pytest.raises(ConfigError) as e:
        validate(config)
    # Every problem at once.
    assert "unknown config key 'optimizer.critic.lrr'; did you mean 'optimizer.critic.lr'" in str(e.value)
    assert "unknown config key 'train.batchsize'; did you mean 'train.batch_size'" in str(e.value)


def test_missing_key_is_named(config):
    del config.train.n_critic
    with pytest.raises(ConfigError, match="missing config key 'train.n_critic'"):
        validate(config)


def test_a_sections_cross_field_check_runs(config, monkeypatch):
    from jaxgan import sections

    extra = config_lib.Section("extra", {"k": config_lib.Field(1, config_lib.ints(0), "a test key")},
                               check=lambda c: [f"extra.k = {c.extra.k} is odd"] if c.extra.k % 2 else [])
    monkeypatch.setattr(sections, "OWNERS", sections.OWNERS + (extra,))
    c = config_lib.base_config()
    assert c.extra.k == 1
    with pytest.raises(ConfigError, match="extra.k = 1 is odd"):
        validate(c)
    c.extra.k = 2
    validate(c)
    # Checks run only once every field is valid, so they may rely on the declared types.
    c.extra.k, c.train.steps = 3, 0
    with pytest.raises(ConfigError) as e:
        validate(c)
    assert "train.steps = 0" in str(e.value) and "is odd" not in str(e.value)


def test_data_section_check(config):
    config.data.image_height = 32
    with pytest.raises(ConfigError, match="set both"):
        validate(config)


def test_a_sections_resumable_keys_may_change():
    a, b = constant_learning_rates(tiny_config()), constant_learning_rates(tiny_config())
    b.name, b.viz.gif, b.train.progress_bar = "other", not a.viz.gif, True
    assert config_lib.incompatible_keys(a.to_dict(), b.to_dict()) == []
    b.loss.clip = 0.5
    assert config_lib.incompatible_keys(a.to_dict(), b.to_dict()) == ["loss.clip: checkpoint has 0.0, now 0.5"]


def test_reference_documents_every_key():
    table = config_lib.reference(tiny_config())
    assert "| `optimizer.critic.lr` | `0.0001` | a finite float > 0.0 |" in table
    undocumented = [row for row in table.splitlines()[2:] if row.endswith("|  |")]
    assert undocumented == []


def test_saved_config_of_an_earlier_run_gets_the_new_sections_defaults():
    from jaxgan.experiment import saved_config

    saved = json.loads(config_lib.to_json(tiny_config()))  # as train.py writes it: tuples become lists
    for section in ("ema", "replay"):
        del saved[section]
    del saved["augment"]["diffaugment"]
    c = validate(saved_config(saved))
    assert (c.ema.decay, c.replay.size, c.augment.diffaugment) == (0.0, 0, "")
