"""Train, sample or evaluate a GAN. Kept tiny on purpose: all logic lives in `jaxgan`.

    python launch.py                                      # the 2D grid GAN into runs/<name>-<time>
    python launch.py --config=configs/gan2d.py:ring --workdir=runs/ring --config.train.steps=5000
    python launch.py --mode=sample --workdir=runs/ring --num_samples=1000 --output=ring.npz
    python launch.py --mode=eval --workdir=runs/ring
    python launch.py --mode=eval --workdir=runs/dcgan --num_samples=10000 --checkpoint=best

Tools that describe a dataset rather than a run (the real-data FID floor, pytorch-fid statistics)
are `python -m jaxgan.evaluate_cli`; comparison reports are `python -m jaxgan.report`.

Exit codes (docs/running.md#guarantees): 0 done; 2 a mistake to fix (flags, config, workdir,
data, checkpoints), one line on stderr saying what and what to do; 3 training diverged (non-finite
losses, parameters or samples); 128+N stopped by signal N after saving; 1 a bug (a traceback).
"""
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow is only a TensorBoard writer here

from jaxgan import xla_cpu  # noqa: E402

xla_cpu.apply()  # jaxgan's XLA:CPU setting, before anything starts JAX (jaxgan/xla_cpu.py)

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_DEFAULT_CONFIG = str(Path(__file__).resolve().parent / "configs" / "gan2d.py")
_CONFIG = config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG, "Config file[:argument].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (default: a new runs/<name>-<time>).")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "sample", "eval"], "What to do.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 1000, "Samples to draw in --mode=sample/eval.")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"],
                                "Which checkpoint --mode=eval evaluates (best: by FID, kept in "
                                "checkpoints_best/).")
_OUTPUT = flags.DEFINE_string("output", None, "Where --mode=sample writes: FILE.npz, or a new "
                              "folder for PNG files (image runs).")


USAGE_ERROR, DIVERGED = 2, 3
_CONFIG_GIVEN = [False, []]  # whether the last parsed command line named a config; its --config.* keys


def _use_jaxgan_loader():
    from jaxgan.config import use_jaxgan_loader  # --config through jaxgan's loader (clear errors)

    use_jaxgan_loader(flags.FLAGS["config"])


_use_jaxgan_loader()


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def parse_flags(argv):
    """absl flag parsing, with one-line messages instead of tracebacks for every mistake.

    Parsing again in one process (tests call `run`) starts from the defaults; --config is
    always given to absl so that its --config.* overrides are read from this `argv`."""
    from jaxgan.config import check_overrides, load_config_file

    for a in argv[1:]:
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:
            _fail(f"argument {a.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8 text; use "
                  "paths and values made of UTF-8 characters (rename the folder or file)")
    spec, given = _DEFAULT_CONFIG, False
    for i, a in enumerate(argv):  # the last --config wins, as in absl
        if a.startswith("--config="):
            spec, given = a.split("=", 1)[1], True
        elif a == "--config" and i + 1 < len(argv):
            spec, given = argv[i + 1], True
    _CONFIG_GIVEN[:] = [given or any(a.startswith("--config.") for a in argv),
                        [a.split("=", 1)[0][len("--config."):] for a in argv if a.startswith("--config.")]]
    if not given:
        argv = [argv[0], f"--config={spec}", *argv[1:]]
    FLAGS = flags.FLAGS
    FLAGS.unparse_flags()
    for name in [n for n in FLAGS if n.startswith("config.")]:
        delattr(FLAGS, name)
    FLAGS["config"]._sys_argv = argv  # ml_collections reads the overrides from here
    try:
        check_overrides(load_config_file(spec), [a for a in argv if a.startswith("--config.")])
        return FLAGS(argv)
    except (flags.Error, OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        _fail(str(e).splitlines()[0] if str(e).strip() else type(e).__name__)


def run(argv) -> int:
    """`python launch.py ...` in this process (for tests): the exit code; the messages on stderr."""
    try:
        return main(parse_flags(list(argv)))
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


def main(argv):
    if len(argv) > 1:
        print(f"error: unexpected arguments {argv[1:]}: flags are --name=value (see --help)", file=sys.stderr)
        return USAGE_ERROR
    data_keys = [k for k in _CONFIG_GIVEN[1] if k.startswith("data.")]
    if _MODE.value != "train" and _CONFIG_GIVEN[0] and not (_MODE.value == "eval" and data_keys == _CONFIG_GIVEN[1]):
        print(f"error: --mode={_MODE.value} uses the run's saved config; --config and --config.* do "
              "not apply (give only --workdir and the sample/eval flags; --mode=eval takes "
              "--config.data.path=NEW for data that moved)", file=sys.stderr)
        return USAGE_ERROR
    from jaxgan import config as config_lib, evaluate, monitor, sample, train  # after flag parsing
    from jaxgan.checkpoint import CheckpointError
    from jaxgan.data import DataError
    from jaxgan.workdir import Diverged, RunError

    monitor.quiet_library_logs()

    try:
        from jaxgan import parallel

        parallel.initialize_distributed()  # a multi-process run when JAXGAN_COORDINATOR is set
        if _MODE.value == "train":
            config = config_lib.validate(_CONFIG.value)
            workdir = _WORKDIR.value or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
            logging.info("Training %s in %s", config.name, workdir)
            train.train(config, workdir)
            print(f"Run written to {workdir}")
            return 0
        if not _WORKDIR.value:
            raise RunError(f"--mode={_MODE.value} needs --workdir=<a trained run directory>")
        if _MODE.value == "sample":
            if not _OUTPUT.value:
                raise RunError("--mode=sample needs --output=FILE.npz or --output=NEW_FOLDER")
            print(f"Wrote {sample.sample(_WORKDIR.value, _NUM_SAMPLES.value, _OUTPUT.value)}")
        else:
            flag = flags.FLAGS["num_samples"]
            data = {k[len("data."):]: _CONFIG.value.data[k[len("data."):]] for k in _CONFIG_GIVEN[1]}
            result = evaluate.evaluate(_WORKDIR.value, flag.value if flag.present else None,
                                       checkpoint=_CHECKPOINT.value, data_overrides=data or None)
            print(json.dumps(result, indent=2))
        return 0
    except Diverged as e:
        print(f"error: {e}", file=sys.stderr)
        return DIVERGED
    except (config_lib.ConfigError, RunError, CheckpointError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return USAGE_ERROR
    except train.Interrupted as e:
        print(str(e), file=sys.stderr)
        return 128 + e.signum


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
