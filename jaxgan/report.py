"""Compare runs: one Markdown page with the config differences, a table of final metrics, FID
and loss curves of every run on shared axes, and the latest sample grids side by side.

    python -m jaxgan.report runs/dcgan runs/wgan_gp runs/acgan --out=docs/fashion_mnist

writes `<out>/README.md` (GitHub renders it on opening the folder) and its pictures beside it.
This is the seed documents' workflow: change one thing, train, compare. It reads only files a
run writes (config.json, metrics.jsonl, eval/step_*.json, checkpoints_best/best.json,
samples/step_*.png), so it needs no checkpoints and compiles nothing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxgan import viz  # noqa: E402

_CURVE_PREFIXES = ("fid/", "kid/", "precision/", "recall/", "is/")
_SKIP_IN_TABLE = ("class_fraction/", "kid_std/", "is_std/")


def _save(fig, path: Path) -> Path:
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _series(rows: list[dict], key: str) -> tuple[list, list]:
    pts = sorted({r["step"]: r[key] for r in rows if key in r and _finite(r[key])}.items())
    return [p[0] for p in pts], [float(p[1]) for p in pts]


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def eval_curves(metrics_jsonl: str | Path, path: str | Path) -> Path | None:
    """One run's evaluation metrics against step: FID, KID, precision/recall, and the class
    histogram (classes covered, KL to uniform, each class's share) when there is one."""
    rows = viz.read_jsonl(metrics_jsonl)
    keys = sorted({k for r in rows for k in r if k.startswith(_CURVE_PREFIXES)})
    fractions = sorted({k for r in rows for k in r if k.startswith("class_fraction/")},
                       key=lambda k: int(k.split("/")[1].split("_")[0]))
    panels = [("FID", [k for k in keys if k.startswith("fid/")]),
              ("KID", [k for k in keys if k.startswith("kid/")]),
              ("precision / recall", [k for k in keys if k.startswith(("precision/", "recall/"))]),
              ("classes covered (left) and KL(generated || uniform) (right)",
               [k for k in ("classes_covered", "class_kl_uniform") if any(k in r for r in rows)]),
              ("share of generated samples per class", fractions)]
    panels = [(t, ks) for t, ks in panels if ks]
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)), sharex=True, squeeze=False)
    for ax, (title, ks) in zip(axes[:, 0], panels):
        if ks is fractions:  # shares sum to 1: stacked
            steps = sorted({r["step"] for r in rows if ks[0] in r})
            shares = [[dict(zip(*_series(rows, k))).get(s, 0.0) for s in steps] for k in ks]
            ax.stackplot(steps, shares, labels=[k.split("/", 1)[-1] for k in ks])
            ax.set_ylim(0, 1)
        elif title.startswith("classes covered"):
            right = ax.twinx()
            for k, target, colour in zip(ks, (ax, right), ("tab:blue", "tab:red")):
                target.plot(*_series(rows, k), marker=".", lw=1, color=colour, label=k)
            right.legend(fontsize=7, loc="upper right")
        else:
            for k in ks:
                ax.plot(*_series(rows, k), marker=".", lw=1, label=k)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if len(ks) > 4 else 1, loc="upper left")
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return _save(fig, Path(path))


# ---- one run ---------------------------------------------------------------------------------

def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class Run:
    """What a run directory says about itself."""

    def __init__(self, workdir: str | Path):
        self.dir = Path(workdir)
        if not self.dir.is_dir():
            raise FileNotFoundError(f"{self.dir} is not a run directory")
        config_path = self.dir / "config.json"
        self.config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        self.label = self.dir.name
        self.rows = viz.read_jsonl(self.dir / "metrics.jsonl")
        evals = sorted(self.dir.glob("eval/step_*.json"))
        self.final_eval = json.loads(evals[-1].read_text()) if evals else {}
        best = self.dir / "checkpoints_best" / "best.json"
        self.best = json.loads(best.read_text()) if best.is_file() else None
        grids = sorted(self.dir.glob("samples/step_*.png"))
        self.latest_grid = grids[-1] if grids else None

    @property
    def step(self) -> int | None:
        steps = [r["step"] for r in self.rows if "step" in r]
        return self.final_eval.get("step") or (max(steps) if steps else None)

    def last(self, key: str):
        steps, values = _series(self.rows, key)
        return values[-1] if values else None

    def final_metrics(self) -> dict:
        m = {k: v for k, v in self.final_eval.items() if k not in ("step", "protocol")}
        return {k: v for k, v in m.items() if not k.startswith(_SKIP_IN_TABLE)}


# ---- the comparison --------------------------------------------------------------------------

def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if abs(v) < 1e-12:
        return "0"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 1:
        return f"{int(v)}" if abs(v) < 1e6 else f"{v:.3g}"
    return f"{v:.4g}" if abs(v) >= 1e-3 else f"{v:.2e}"


def _comparable(protocol: dict | None) -> dict | None:
    """What makes two evaluations comparable: sample counts, references and feature networks,
    not how the latents were labelled (a conditional generator gets classes in turn)."""
    if not protocol:
        return protocol
    generated = {k: v for k, v in protocol.get("generated", {}).items() if k != "source"}
    return {**protocol, "generated": generated}


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def config_differences(runs: list[Run], ignore=("name",)) -> list[str]:
    """Flattened config keys whose values differ between the runs."""
    flats = [_flatten(r.config) for r in runs]
    keys = sorted(set().union(*flats)) if flats else []
    return [k for k in keys if k not in ignore and len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]


def shared_curves(runs: list[Run], keys: list[str], path: Path, ylabel: str, log: bool = False) -> Path | None:
    """Every run's curve of each key, one panel per key, shared x axis."""
    keys = [k for k in keys if any(_series(r.rows, k)[0] for r in runs)]
    if not keys:
        return None
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 3 * len(keys)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for run in runs:
            steps, values = _series(run.rows, key)
            if steps:
                ax.plot(steps, values, lw=1, marker="." if len(steps) < 50 else None, label=run.label)
        ax.set_title(key, fontsize=9)
        ax.set_ylabel(ylabel)
        if log and all(v > 0 for run in runs for v in _series(run.rows, key)[1]):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return _save(fig, path)


def build_report(workdirs: list[str | Path], out: str | Path, title: str = "Run comparison") -> Path:
    """Write `<out>/README.md` and its pictures comparing `workdirs`; return the Markdown path."""
    runs = [Run(w) for w in workdirs]
    labels = [r.label for r in runs]
    if len(set(labels)) < len(labels):  # same directory names under different parents
        for r in runs:
            r.label = f"{r.dir.parent.name}/{r.dir.name}"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# {title}", "",
          f"Generated by `python -m jaxgan.report {' '.join(str(w) for w in workdirs)} --out={out}` "
          f"on {time.strftime('%Y-%m-%d %H:%M')}.", ""]

    md += ["## Runs", ""]
    rows = [[r.label, f"`{r.dir}`", str(r.config.get("name", "–")), _fmt(r.step)] for r in runs]
    md += [_table(["run", "directory", "config name", "step"], rows), ""]
    diffs = config_differences(runs)
    if diffs:
        flats = [_flatten(r.config) for r in runs]
        md += ["What differs between their configs:", ""]
        md += [_table(["config key"] + [r.label for r in runs],
                      [[f"`{k}`"] + [f"`{json.dumps(f.get(k))}`" for f in flats] for k in diffs]), ""]

    md += ["## Final metrics", ""]
    metric_keys: list[str] = []
    for r in runs:
        metric_keys += [k for k in r.final_metrics() if k not in metric_keys]
    # One feature network (the usual case): name it once and keep the column headers short.
    suffixes = {k.split("/", 1)[1] for k in metric_keys if "/" in k}
    header = {k: (k.split("/", 1)[0] if len(suffixes) == 1 and "/" in k else k) for k in metric_keys}
    if len(suffixes) == 1:
        md += [f"Feature network: `{suffixes.pop()}` (the metrics are named `fid/<network>`, ...).", ""]
    rows = []
    for r in runs:
        m = r.final_metrics()
        row = [r.label, _fmt(r.final_eval.get("step"))]
        for k in metric_keys:
            v = m.get(k)
            std = r.final_eval.get(k.replace("kid/", "kid_std/").replace("is/", "is_std/")) \
                if k.startswith(("kid/", "is/")) else None
            row.append(_fmt(v) + (f" ± {_fmt(std)}" if std is not None and v is not None else ""))
        best = r.best
        row.append(f"{_fmt(best['value'])} (step {best['step']})" if best else "–")
        row += [_fmt(r.last("d_loss")), _fmt(r.last("g_loss")), _fmt(r.last("steps_per_s"))]
        rows.append(row)
    md += [_table(["run", "eval step"] + [f"`{header[k]}`" for k in metric_keys]
                  + ["best (metric at its step)", "final d_loss", "final g_loss", "steps/s"], rows), ""]
    protocols = [json.dumps(_comparable(r.final_eval.get("protocol")), sort_keys=True)
                 for r in runs if r.final_eval]
    if len(set(protocols)) > 1:
        md += ["**The runs' evaluations used different protocols** (sample counts, feature "
               "networks or reference sets): their metrics are not comparable. See each run's "
               "`eval/step_*.json`.", ""]
    if runs and runs[0].final_eval.get("protocol"):
        md += ["<details><summary>Evaluation protocol (of the first run)</summary>", "", "```json",
               json.dumps(runs[0].final_eval["protocol"], indent=2), "```", "</details>", ""]

    md += ["## Curves", ""]
    eval_keys = sorted({k for r in runs for row in r.rows for k in row if k.startswith(("fid/", "kid/"))})
    fid = shared_curves(runs, eval_keys, out / "eval_curves.png", "value", log=True)
    if fid:
        md += ["![FID and KID of every run](eval_curves.png)", ""]
    cov = shared_curves(runs, ["classes_covered", "class_kl_uniform"], out / "classes.png", "value")
    if cov:
        md += ["![class histogram of every run](classes.png)", ""]
    losses = shared_curves(runs, ["d_loss", "g_loss"], out / "losses.png", "loss")
    if losses:
        md += ["![critic and generator losses of every run](losses.png)", ""]

    md += ["## Latest samples", ""]
    cells, heads = [], []
    for i, r in enumerate(runs):
        heads.append(f"{r.label} (step {int(r.latest_grid.stem.split('_')[-1])})" if r.latest_grid else r.label)
        if r.latest_grid:
            name = f"samples_{i}_{r.dir.name}.png"
            shutil.copyfile(r.latest_grid, out / name)
            cells.append(f"![{r.label}]({name})")
        else:
            cells.append("no samples/step_*.png")
    md += [_table(heads, [cells]), ""]
    path = out / "README.md"
    tmp = path.with_name("README.md.tmp")
    tmp.write_text("\n".join(md))
    os.replace(tmp, path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxgan.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("workdirs", nargs="+", help="run directories to compare")
    parser.add_argument("--out", required=True, help="output folder (README.md and pictures)")
    parser.add_argument("--title", default="Run comparison")
    args = parser.parse_args(argv)
    try:
        path = build_report(args.workdirs, args.out, args.title)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
