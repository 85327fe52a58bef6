"""Config machinery: sections declared by the modules that own them, validation, resume rules.

Each module that reads a part of the config declares that part once, as a `SECTION`: every key
with its default, its rule and a line of documentation, plus optional cross-field checks and the
keys that may change when a run is resumed. `jaxgan/sections.py` names the owning modules;
`base_config()` assembles their sections into the config every recipe starts from.

    from jaxgan.config import Field, Section, floats, ints
    SECTION = Section("ema", {
        "decay": Field(0.0, floats(0.0, 1.0, high_open=True), "EMA decay per step; 0 = off"),
        "start_step": Field(0, ints(0), "generator steps before the EMA starts averaging"),
    })

`validate()` runs before anything compiles and reports every problem at once, naming the field,
the value and what is allowed; unknown keys get the closest valid key as a suggestion.
`python -m jaxgan.config` prints every key with its default, rule and documentation.

This module imports no other jaxgan module at import time, so any module can declare a section
without an import cycle; the owners are imported when `base_config()` or `validate()` runs.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import json
import math
import os
from typing import Any, Callable, Mapping, Sequence, Union

import ml_collections


class ConfigError(ValueError):
    """A config value a run cannot use; the message says which and what is allowed."""


# ---------------------------------------------------------------------------------------------
# Declaring sections

Choices = Union[Sequence[Any], Callable[[ml_collections.ConfigDict], Union[Sequence[Any], None]], None]


@dataclasses.dataclass(frozen=True)
class Rule:
    """What values a field accepts: a type, and a range or a set of choices."""
    kind: type | tuple[type, ...]
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low is exclusive
    high_open: bool = False
    # A sequence, or fn(config) -> sequence (None when the choices cannot be known, e.g. a
    # dataset name under an unknown source: that problem is reported on the source).
    choices: Choices = None

    def _kinds(self) -> tuple[type, ...]:
        return self.kind if isinstance(self.kind, tuple) else (self.kind,)

    def describe(self, finite: bool = False) -> str:
        text = " or ".join(k.__name__ for k in self._kinds())
        if finite:
            text = "a finite " + text
        if self.low is not None:
            text += f" {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None:
            text += f"{' and' if self.low is not None else ''} {'<' if self.high_open else '<='} {self.high}"
        return text

    def problem(self, value: Any, config: ml_collections.ConfigDict) -> str | None:
        """None when `value` is allowed, else what is wrong ('must be ...')."""
        kinds = self._kinds()
        ok_type = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok_type = True
        if not ok_type:
            return "must be " + " or ".join(k.__name__ for k in kinds)
        if self.choices is not None:
            choices = self.choices(config) if callable(self.choices) else self.choices
            if choices is not None and value not in choices:
                return "must be one of " + ", ".join(repr(c) for c in choices)
            return None
        # NaN fails every comparison, so a range alone would let it through.
        if float in kinds and isinstance(value, float) and not math.isfinite(value):
            return "must be " + self.describe(finite=True)
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return "must be " + self.describe()
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return "must be " + self.describe()
        return None


def ints(low: int | None = None, high: int | None = None) -> Rule:
    return Rule(int, low, high)


def floats(low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False) -> Rule:
    """A finite float (ints are accepted) in the given range."""
    return Rule(float, low, high, low_open, high_open)


def choice(*values: Any, kind: type | None = None) -> Rule:
    """One of `values`, or of `fn(config)` when given a single callable (strings then)."""
    if len(values) == 1 and callable(values[0]):
        return Rule(kind or str, choices=values[0])
    if kind is None:
        kinds = {type(v) for v in values}
        kind = kinds.pop() if len(kinds) == 1 else tuple(kinds)
    return Rule(kind, choices=tuple(values))


def boolean() -> Rule:
    return Rule(bool)


def text() -> Rule:
    return Rule(str)


def seq() -> Rule:
    # JSON (saved configs) turns tuples into lists, so both are accepted.
    return Rule((tuple, list))


def typed(default: Any) -> Rule:
    """The type of `default` only (anything when it is None)."""
    if isinstance(default, float):
        return floats()
    if isinstance(default, (tuple, list)):
        return seq()
    return Rule(type(default) if default is not None else object)


@dataclasses.dataclass(frozen=True)
class Field:
    """One config key: its default, the values it accepts, and what it does."""
    default: Any
    rule: Rule
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Dynamic:
    """A sub-config whose fields depend on its own value, e.g. `model.generator`, whose fields
    are those of the module its `name` picks. `fields(sub)` gets the sub-config (None for the
    defaults). Its keys are not required: a saved config holds the kwargs its run used."""
    fields: Callable[[Any], Mapping[str, Field]]
    doc: str = ""


# A section's tree: key -> Field, Dynamic, or a nested tree (the same dict may be used twice,
# as optimizer.generator and optimizer.critic are).
Tree = Mapping[str, Union[Field, Dynamic, "Tree"]]
# Keys that may change on resume: names within the section, or fn(saved_flat, current_flat).
Resumable = Union[Sequence[str], Callable[[dict, dict], Sequence[str]]]
ALL = ("*",)  # resumable=ALL: every key of the section may change on resume


@dataclasses.dataclass(frozen=True)
class Section:
    """The keys one module reads, under `config.<name>` (name "" puts them at the top level).

    check: fn(config) -> list of cross-field problems; run once every field is valid.
    resumable: keys of this section that may change when a run is resumed (they set how long and
    how often, not what is trained), ALL, or fn(saved_flat, current_flat) -> such keys.
    """
    name: str
    fields: Tree
    check: Callable[[ml_collections.ConfigDict], list[str]] | None = None
    resumable: Resumable = ()
    doc: str = ""

    def prefix(self) -> str:
        return f"{self.name}." if self.name else ""


def _defaults(tree: Tree) -> dict[str, Any]:
    out = {}
    for key, entry in tree.items():
        if isinstance(entry, Field):
            out[key] = entry.default
        elif isinstance(entry, Dynamic):
            out[key] = _defaults(entry.fields(None))
        else:
            out[key] = _defaults(entry)
    return out


def _field_paths(tree: Tree, prefix: str, config: Any, out: dict[str, tuple[Field, bool]],
                 required: bool = True) -> None:
    """Flat {path: (field, required)} for `tree`, Dynamic parts resolved against `config`."""
    for key, entry in tree.items():
        path = prefix + key
        sub = config.get(key) if hasattr(config, "get") else None
        if isinstance(entry, Field):
            if path in out:
                raise ValueError(f"config key {path!r} is declared twice")
            out[path] = (entry, required)
        elif isinstance(entry, Dynamic):
            sub = sub if hasattr(sub, "get") else None  # a leaf where a sub-config belongs
            _field_paths(entry.fields(sub), path + ".", sub, out, required=False)
        else:
            _field_paths(entry, path + ".", sub, out, required)


def sections() -> tuple[Section, ...]:
    """Every section, from the owners listed in jaxgan/sections.py (imported on first call)."""
    from jaxgan import sections as registry
    found = registry.sections()
    names = [s.name for s in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"config sections declared more than once: {twice}")
    return found


def base_config() -> ml_collections.ConfigDict:
    """Every key a run understands, with defaults (the 2D `grid` GAN)."""
    tree: dict[str, Any] = {}
    for section in sections():
        values = _defaults(section.fields)
        if section.name:
            tree[section.name] = values
        else:
            tree.update(values)
    return ml_collections.ConfigDict(tree)


def fields_of(config: ml_collections.ConfigDict) -> dict[str, tuple[Field, bool]]:
    """{path: (field, required)} for every key `config` may have, given its model choices."""
    out: dict[str, tuple[Field, bool]] = {}
    for section in sections():
        sub = config if not section.name else (config.get(section.name) if hasattr(config, "get") else None)
        _field_paths(section.fields, section.prefix(), sub, out)
    return out


def reference(config: ml_collections.ConfigDict | None = None) -> str:
    """A Markdown table of every key: default, what is allowed, what it does."""
    config = base_config() if config is None else config
    rows = ["| key | default | allowed | what it does |", "|---|---|---|---|"]
    for path, (field, _) in fields_of(config).items():
        rule = field.rule
        if rule.choices is not None:
            choices = rule.choices(config) if callable(rule.choices) else rule.choices
            allowed = "one of " + ", ".join(repr(c) for c in choices) if choices else rule.describe()
        else:
            allowed = rule.describe(finite=rule.kind is float)
        rows.append(f"| `{path}` | `{field.default!r}` | {allowed} | {field.doc} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# Validation

def flatten(config: ml_collections.ConfigDict | dict, prefix: str = "") -> dict[str, Any]:
    """{'a.b.c': value} for every leaf."""
    items = config.items() if hasattr(config, "items") else config
    out = {}
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, (dict, ml_collections.ConfigDict)):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Raise ConfigError listing every unknown key and every bad value; return the config."""
    fields = fields_of(config)
    leaves = flatten(config)
    problems = []
    for path, value in leaves.items():
        if path not in fields:
            close = difflib.get_close_matches(path, list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"unknown config key {path!r}{hint}")
            continue
        problem = fields[path][0].rule.problem(value, config)
        if problem:
            problems.append(f"{path} = {value!r}: {problem}")
    for path, (_, required) in fields.items():
        if required and path not in leaves:
            problems.append(f"missing config key {path!r} (start recipes from jaxgan.config.base_config())")
    if not problems:  # the checks may assume every field has its declared type
        for section in sections():
            if section.check is not None:
                problems += section.check(config)
    if len(problems) == 1:
        raise ConfigError(f"invalid config: {problems[0]}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return config


# ---------------------------------------------------------------------------------------------
# Resuming

def _resumable_prefixes(old: dict, new: dict) -> list[str]:
    """Paths (or 'section.' prefixes) that may differ between a saved run and its resumption."""
    out = []
    for section in sections():
        keys = section.resumable(old, new) if callable(section.resumable) else section.resumable
        for key in keys:
            out.append(section.prefix() if key == "*" else section.prefix() + key)
    return out


def incompatible_keys(saved: dict, current: dict) -> list[str]:
    """Keys (with both values) on which `current` cannot continue a run saved with `saved`.

    A key the checkpoint lacks was added to jaxgan after the run was saved; at its default it
    keeps the old behaviour (new features are off by default), so it does not block a resume."""
    as_tuple = lambda tree: {k: tuple(v) if isinstance(v, list) else v for k, v in flatten(tree).items()}
    old, new = as_tuple(saved), as_tuple(current)
    for key, default in as_tuple(base_config()).items():
        if key not in old and key in new and new[key] == default:
            old[key] = default
    resumable = _resumable_prefixes(old, new)
    diffs = []
    for key in sorted(set(old) | set(new)):
        if any(key == p or (p.endswith(".") and key.startswith(p)) for p in resumable):
            continue
        if old.get(key, "<absent>") != new.get(key, "<absent>"):
            diffs.append(f"{key}: checkpoint has {old.get(key, '<absent>')!r}, now {new.get(key, '<absent>')!r}")
    return diffs


# ---------------------------------------------------------------------------------------------
# Loading

def load_config_file(spec: str) -> ml_collections.ConfigDict:
    """`get_config(arg)` of a config file given as 'path/to/file.py[:arg]' (as --config takes),
    or a run's saved config.json. Every way a file can be wrong is a one-line ConfigError."""
    path, _, arg = spec.partition(":")
    if path.endswith(".json") and os.path.isfile(path):
        return _load_saved(path)
    if os.path.isdir(path):
        raise ConfigError(f"--config={path!r} is a folder; give a config file in it, e.g. "
                          "configs/gan2d.py (or a run's config.json)")
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} not found (paths are relative to the current "
                          "directory; the recipes are in configs/)")
    module_spec = importlib.util.spec_from_file_location("_jaxgan_config", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ConfigError(f"config file {path!r} line {e.lineno}: SyntaxError: {e.msg}; fix the "
                          "file") from None
    except Exception as e:  # noqa: BLE001 - whatever the file does wrong, say where
        raise ConfigError(f"config file {path!r} failed to load ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}); fix the file") from None
    if not callable(getattr(module, "get_config", None)):
        raise ConfigError(f"config file {path!r} defines no get_config(); a config file defines "
                          "get_config(arg=None) returning a ConfigDict (see configs/gan2d.py)")
    try:
        config = module.get_config(arg) if arg else module.get_config()
    except Exception as e:  # noqa: BLE001
        what = f"get_config({arg!r})" if arg else "get_config()"
        raise ConfigError(f"{what} of {path!r} failed ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}); the file's docstring lists "
                          "its arguments") from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"get_config() of {path!r} returned {type(config).__name__}, not a "
                          "ConfigDict; start it from jaxgan.config.base_config()")
    return config


def _load_saved(path: str) -> ml_collections.ConfigDict:
    """A run's config.json, with keys added since it was saved set to their defaults."""
    from jaxgan.experiment import saved_config  # imports the model code: only when needed

    try:
        saved = json.loads(open(path, encoding="utf-8").read())
        if not isinstance(saved, dict) or not {"train", "model", "data"} <= set(saved):
            raise ValueError("not a JSON object with train, model and data sections")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config={path!r} is not a run's config.json ({type(e).__name__}: "
                          f"{str(e)[:100]}); give a config file such as configs/gan2d.py") from None
    return saved_config(saved)


def use_jaxgan_loader(flag) -> None:
    """Make an ml_collections config flag load through `load_config_file` (recipe files and runs'
    config.json, one-line errors) instead of its own loader."""
    from absl import flags

    class Parser(flags.ArgumentParser):
        def parse(self, spec):
            config = load_config_file(spec)
            config.lock()
            return config

        def flag_type(self):
            return "config object"

    flag.parser = Parser()


def check_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str]) -> None:
    """Reject `--config.a.b=value` overrides naming keys the config does not have."""
    known = flatten(config)
    for override in overrides:
        path = override.split("=", 1)[0][len("--config."):]
        if path not in known:
            close = difflib.get_close_matches(path, list(known), n=1, cutoff=0.5)
            hint = f"; did you mean --config.{close[0]}?" if close else ""
            raise ConfigError(f"unknown config key {path!r} in {override!r}{hint}")


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)


if __name__ == "__main__":
    # The owners declare their sections with jaxgan.config's classes, not this __main__ copy's.
    from jaxgan import config as _config
    print(_config.reference())
