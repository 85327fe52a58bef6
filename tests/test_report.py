"""The comparison report's pieces on hand-made run directories (fast; the end-to-end report on
two tiny training runs is in test_evaluate.py)."""
import json

import numpy as np
from PIL import Image

from jaxgan import report


def fake_run(root, name, lr, fid_scale=1.0, protocol=None, samples=True):
    d = root / name
    (d / "eval").mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"name": name, "optimizer": {"critic": {"lr": lr}},
                                               "seed": 0}))
    rows = []
    for step in (10, 20, 30):
        rows.append({"step": step, "d_loss": 1.0 / step, "g_loss": 2.0 / step, "steps_per_s": 5.0})
        if step in (20, 30):
            metrics = {"fid/classifier_x": fid_scale * 100 / step, "kid/classifier_x": 0.01,
                       "kid_std/classifier_x": 0.001, "classes_covered": 10, "class_kl_uniform": 0.01,
                       "class_fraction/0_a": 0.5, "class_fraction/1_b": 0.5}
            rows.append({"step": step, **metrics})
            (d / "eval" / f"step_{step:09d}.json").write_text(json.dumps(
                {"step": step, **metrics, "protocol": protocol or {"generated": {"num": 100}}}))
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"step\": 4")  # cut line
    if samples:
        (d / "samples").mkdir()
        for step in (10, 30):
            Image.fromarray(np.full((8, 8, 3), step, np.uint8)).save(d / "samples" / f"step_{step:09d}.png")
    return d


def test_report_tables_curves_and_samples(tmp_path):
    a = fake_run(tmp_path, "a", 1e-3)
    b = fake_run(tmp_path, "b", 1e-4, fid_scale=2.0, samples=False)
    text = report.build_report([a, b], tmp_path / "out").read_text()
    assert "| `optimizer.critic.lr` | `0.001` | `0.0001` |" in text
    assert "`name`" not in text  # the run name is expected to differ
    assert "Feature network: `classifier_x`" in text
    assert "| run | eval step | `fid` | `kid` | `classes_covered` | `class_kl_uniform` |" in text
    assert "| a | 30 | 3.333 | 0.01 ± 0.001 | 10 | 0.01 |" in text  # final metrics, KID with its std
    assert "| b | 30 | 6.667 |" in text
    assert "class_fraction" not in text.split("## Curves")[0]  # shares are plotted, not tabulated
    assert "![a](samples_0_a.png)" in text and "no samples/step_*.png" in text
    assert "a (step 30)" in text
    for picture in ("eval_curves.png", "classes.png", "losses.png", "samples_0_a.png"):
        assert (tmp_path / "out" / picture).is_file()
    assert "different protocols" not in text


def test_report_warns_when_protocols_differ(tmp_path):
    a = fake_run(tmp_path, "a", 1e-3)
    b = fake_run(tmp_path, "b", 1e-3, protocol={"generated": {"num": 5000}})
    text = report.build_report([a, b], tmp_path / "out").read_text()
    assert "different protocols" in text


def test_eval_curves_of_one_run(tmp_path):
    a = fake_run(tmp_path, "a", 1e-3)
    assert report.eval_curves(a / "metrics.jsonl", tmp_path / "eval.png").is_file()
    (tmp_path / "empty.jsonl").write_text(json.dumps({"step": 1, "d_loss": 0.5}) + "\n")
    assert report.eval_curves(tmp_path / "empty.jsonl", tmp_path / "none.png") is None


def test_command_line(tmp_path, capsys):
    a = fake_run(tmp_path, "a", 1e-3)
    assert report.main([str(a), "--out", str(tmp_path / "out")]) == 0
    assert "README.md" in capsys.readouterr().out
    assert report.main([str(tmp_path / "missing"), "--out", str(tmp_path / "o2")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
