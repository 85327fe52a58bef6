"""Evaluation tools, one command line: a trained run, the real-data floor, pytorch-fid statistics.

    python -m jaxgan.evaluate_cli run runs/dcgan --checkpoint=best --num_samples=10000  # a trained run
    python -m jaxgan.evaluate_cli floor --config=configs/dcgan.py:fashion_mnist        # real vs real
    python -m jaxgan.evaluate_cli stats --config=... --split=train --out=stats.npz     # pytorch-fid .npz

`python launch.py --mode=eval --workdir=...` evaluates a trained run as `run` does; the floor and
the statistics describe a dataset, not a run, so they live here rather than in the launcher.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from jaxgan.evaluate import Evaluator, evaluate
from jaxgan.metrics import feature_policy, frechet
from jaxgan.workdir import RunError, json_default, new_output

USAGE = ("usage: python -m jaxgan.evaluate_cli floor --config=CONFIG [--num=10000]\n"
         "       python -m jaxgan.evaluate_cli run WORKDIR [--checkpoint=best] [--num_samples=N]\n"
         "       python -m jaxgan.evaluate_cli stats --config=CONFIG --split=train --out=FILE.npz")


def real_data_floor(config, num: int = 10_000) -> dict:
    """Metrics of `num` real images of the other split against `num` of eval.reference_split:
    what a perfect generator would score (the floor of FID with these sample counts)."""
    from jaxgan import data as data_lib

    dataset = data_lib.build(config.data, config.seed)
    with config.unlocked():
        config.eval.num_reference = num
    other = "test" if config.eval.reference_split == "train" else "train"
    images = dataset.reference(num, split=other)["x"]
    ev = Evaluator(config, dataset)
    return {**ev.measure(images, generated=f"real images, {other} split"),
            "protocol": ev.protocol(len(images), f"real images, {other} split")}


def write_stats(config, split: str, num: int, out: Path) -> dict:
    """pytorch-fid statistics (`mu`, `sigma`) of `num` real images of `split`, for each network."""
    from jaxgan import data as data_lib

    from jaxgan.workdir import refuse_existing  # noqa: F811

    both = config.eval.features == "both"
    for path in [out.with_name(f"{out.stem}_{n}{out.suffix}") for n in ("classifier", "inception")] if both else [out]:
        refuse_existing(path, "--out")  # before any work
    dataset = data_lib.build(config.data, config.seed)
    images = dataset.reference(num, split=split)["x"]
    written = {}
    for net in feature_policy.feature_nets(config, dataset):
        path = out.with_name(f"{out.stem}_{net.name}{out.suffix}") if both else out
        refuse_existing(path, "--out")
        mu, sigma = frechet.gaussian_stats(net(images)[0])
        with new_output(path) as tmp, open(tmp, "wb") as f:  # never a partial or replaced file
            frechet.save_stats(f, mu, sigma)
        written[net.name] = str(path)
    return written


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def main(argv) -> int:
    """The command line (`argv` as sys.argv); returns the exit code: 0, 2 for a mistake to fix
    (one line on stderr), 3 when the run's generator draws non-finite samples."""
    from absl import flags
    from ml_collections import config_flags

    from jaxgan import config as config_lib
    from jaxgan.checkpoint import CheckpointError
    from jaxgan.data import DataError
    from jaxgan.workdir import Diverged

    def fail(message: str, code: int = 2) -> int:
        print(f"error: {message}", file=sys.stderr)
        return code

    for a in argv[1:]:
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:
            return fail(f"argument {a.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8 text; "
                        "use paths made of UTF-8 characters")
    fv = flags.FlagValues()  # a fresh set per call: main may run more than once in a process
    holder = config_flags.DEFINE_config_file("config", None, "configs/<file>.py[:arg] of the data to measure",
                                             flag_values=fv, lock_config=False, sys_argv=list(argv))
    config_lib.use_jaxgan_loader(fv["config"])
    flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "run: which checkpoint", flag_values=fv)
    flags.DEFINE_integer("num", 10_000, "floor/stats: real images per set", lower_bound=2, flag_values=fv)
    flags.DEFINE_integer("num_samples", None, "run: generated samples (default: the run's "
                         "eval.num_samples)", flag_values=fv)
    flags.DEFINE_string("split", "train", "stats: the split to describe", flag_values=fv)
    flags.DEFINE_string("out", "", "stats: output .npz", flag_values=fv)
    flags.DEFINE_string("features", "", "run: override eval.features", flag_values=fv)
    try:
        rest = fv(list(argv))
    except (flags.Error, config_lib.ConfigError, ValueError) as e:
        return fail(_one_line(e))
    from jaxgan import monitor

    monitor.quiet_library_logs()
    commands = "run WORKDIR, floor --config=CONFIG or stats --config=CONFIG --out=FILE.npz"
    try:
        if len(rest) < 2:
            return fail(f"no command given; use {commands}")
        if rest[1] == "run" and len(rest) == 3:
            over = {"features": fv.features} if fv.features else None
            result = evaluate(rest[2], fv.num_samples, fv.checkpoint, over)
        elif rest[1] in ("floor", "stats") and len(rest) == 2:
            config = holder.value
            if config is None:
                return fail(f"{rest[1]} needs --config=configs/<file>.py[:arg] (the data to measure)")
            config_lib.validate(config)
            if rest[1] == "floor":
                result = real_data_floor(config, fv.num)
            else:
                if not fv.out or not fv.out.endswith(".npz"):
                    return fail("stats needs --out=FILE.npz (a new file)")
                result = write_stats(config, fv.split, fv.num, Path(fv.out))
        else:
            return fail(f"cannot understand {' '.join(rest[1:])!r}; use {commands}")
    except Diverged as err:
        return fail(str(err), 3)
    except (RunError, config_lib.ConfigError, DataError, CheckpointError) as err:
        return fail(_one_line(err))
    print(json.dumps(result, indent=2, default=json_default))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
