"""Trains through launch.py's entry point in this process and SIGKILLs itself (or sends itself
SIGTERM) at one chosen moment; tests/test_faults.py runs it.

    python tests/fault_worker.py MOMENT@STEP launch.py-flags...

MOMENT: `step` (while step STEP computes: dispatched, not finished), `save` (checkpoint STEP's
save started, not committed), `eval` (inside the evaluation of STEP), `snapshot` (inside the
frame of STEP), `term` (SIGTERM after STEP: a clean stop), `none`."""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import launch  # noqa: E402  (applies jaxgan's XLA:CPU setting first)

from jaxgan import checkpoint, hooks, parallel, snapshots, train  # noqa: E402


def main(spec: str, argv: list[str]) -> int:
    moment, at = spec.split("@")
    at = int(at)
    kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
    workdir = Path(next(a.split("=", 1)[1] for a in argv if a.startswith("--workdir=")))
    ckpts = workdir / "checkpoints"
    start = max([int(p.name) for p in ckpts.iterdir() if p.name.isdigit()], default=0) if ckpts.is_dir() else 0

    if moment in ("step", "term"):
        make = parallel.make_executor

        def make_executor(*args, **kwargs):
            executor = make(*args, **kwargs)
            inner, count = executor.step, [start]

            def step(state, batch):
                out = inner(state, batch)
                count[0] += 1
                if count[0] == at and moment == "step":
                    kill()  # the step is dispatched and still computing
                if count[0] == at:
                    os.kill(os.getpid(), signal.SIGTERM)
                return out

            executor.step = step
            return executor

        parallel.make_executor = make_executor
    elif moment == "save":
        save = checkpoint.Checkpointer.save

        def saving(self, step, state, meta):
            save(self, step, state, meta)
            if step == at:
                kill()  # orbax writes it in the background: not committed yet

        checkpoint.Checkpointer.save = saving
    elif moment == "eval":
        evaluate_state = hooks.evaluate_state

        def evaluating(exp, state):
            if int(state.step) == at:
                kill()
            return evaluate_state(exp, state)

        hooks.evaluate_state = evaluating
    elif moment == "snapshot":
        frame = snapshots.PointSnapshots.frame

        def framing(self, state, step):
            if step == at:
                kill()
            return frame(self, state, step)

        snapshots.PointSnapshots.frame = framing
    restore = train._restore_or_init

    def restoring(run):  # what the trainer continues from, for the test to check
        state = restore(run)
        print(f"started at step {int(state.step)}", file=sys.stderr, flush=True)
        return state

    train._restore_or_init = restoring
    return launch.run(["launch.py", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
