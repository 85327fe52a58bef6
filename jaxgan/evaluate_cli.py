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
from jaxgan.workdir import RunError, json_default

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

    dataset = data_lib.build(config.data, config.seed)
    images = dataset.reference(num, split=split)["x"]
    written = {}
    for net in feature_policy.feature_nets(config, dataset):
        path = out.with_name(f"{out.stem}_{net.name}{out.suffix}") if config.eval.features == "both" else out
        mu, sigma = frechet.gaussian_stats(net(images)[0])
        frechet.save_stats(path, mu, sigma)
        written[net.name] = str(path)
    return written


def main(argv) -> int:
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, "configs/<file>.py[:arg] of the data to measure",
                                    lock_config=False)
    flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "run: which checkpoint")
    flags.DEFINE_integer("num", 10_000, "floor/stats: real images per set")
    flags.DEFINE_integer("num_samples", 0, "run: generated samples (0: the run's eval.num_samples)")
    flags.DEFINE_string("split", "train", "stats: the split to describe")
    flags.DEFINE_string("out", "", "stats: output .npz")
    flags.DEFINE_string("features", "", "run: override eval.features")
    rest = flags.FLAGS(argv)
    from jaxgan import monitor

    monitor.quiet_library_logs()
    FLAGS = flags.FLAGS
    if len(rest) < 2:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        if rest[1] == "run" and len(rest) == 3:
            over = {"features": FLAGS.features} if FLAGS.features else None
            result = evaluate(rest[2], FLAGS.num_samples or None, FLAGS.checkpoint, over)
        elif rest[1] == "floor" and len(rest) == 2 and FLAGS.config is not None:
            result = real_data_floor(FLAGS.config, FLAGS.num)
        elif rest[1] == "stats" and len(rest) == 2 and FLAGS.config is not None:
            if not FLAGS.out:
                raise RunError("stats needs --out=FILE.npz")
            result = write_stats(FLAGS.config, FLAGS.split, FLAGS.num, Path(FLAGS.out))
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=json_default))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
