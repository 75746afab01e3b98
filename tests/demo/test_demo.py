"""`mote demo`, cut down (pretraining, videos, epochs) so it runs in seconds."""

import csv
import functools
import json
from pathlib import Path

import pytest
from plot_spy import spy_on_plots
from typer.testing import CliRunner

import motecli.cli  # noqa: F401
import motecli.demo
import motecli.errors
from motecli.cli_app import app
from motecli.pretrain.loop import PretrainConfig

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "demo.toml"
PRETRAIN = PretrainConfig(steps=2, batch=8, warmup_steps=1, eval_images=6, render_size=32)
# One coloured shape trained (two motions), so the zero-shot classes are the red square and red triangle.
SHORT = ["solver.epochs=1", "solver.warmup_epochs=0", "data.synthetic_videos_per_class=3", "solver.total_batch=4",
         'data.synthetic_shapes=["red circle"]']


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One cut-down demo: (report, workdir, cache root, what the plots drew)."""
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTE_CACHE", str(root / "cache"))
        drawn = spy_on_plots(mp)
        report = motecli.demo.run_demo(workdir=root / "work", recipe_path=RECIPE, overrides=SHORT, pretrain=PRETRAIN)
    return report, root / "work", root / "cache", drawn


def test_every_model_and_protocol_is_evaluated(demo):
    _, work, _, _ = demo
    runs = [json.loads(p.read_text()) for p in sorted((work / "results").glob("*.json"))]
    seen = {(Path(r["checkpoint"]["path"]).stem, r["settings"]["protocol"], r["settings"]["modulation"]) for r in runs}
    expected = {(m, p, mod) for m in ("mote", "baseline") for p in ("close-set", "zero-shot") for mod in (True, False)}
    assert seen == expected | {("clip", "close-set", False), ("clip", "zero-shot", False)}
    # The baseline is what its overrides say: one expert, no merged-pass terms.
    baseline = json.loads((work / "models" / "baseline.safetensors.json").read_text())
    assert baseline["num_experts_merged"] == 1 and baseline["source"]["recipe"]["loss"]["merged"] == 0
    assert json.loads((work / "models" / "mote.safetensors.json").read_text())["num_experts_merged"] == 4
    # Zero-shot classes were never trained; every zero-shot video is scored once over the 3 splits.
    trained = set(json.loads((work / "models" / "mote.safetensors.json").read_text())["class_names"])
    zero_shot = next(r for r in runs if r["settings"]["protocol"] == "zero-shot")
    assert zero_shot["runs"][0]["splits_evaluated"] == [1, 2, 3]
    zero_shot_file = next(p for p in (work / "results").glob("*.json") if "zero-shot" in p.name)
    with open(work / "results" / json.loads(zero_shot_file.read_text())["detail_files"]["per_class"]) as fh:
        classes = {line["class"] for line in csv.DictReader(fh)}
    assert classes == {f"{z} red {s} moving {m}" for s in ("square", "triangle") for z, m in (("small", "closer"), ("large", "away"))}
    assert not classes & trained
    assert sum(s["videos"] for s in zero_shot["runs"][0]["splits"]) == 4 * motecli.demo.ZERO_SHOT_VIDEOS_PER_CLASS
    for png in ("trade-off.png", "zero-shot-per-class.png"):
        assert (work / "results" / png).read_bytes()[:4] == b"\x89PNG"
    # `mote results` reads the folder as one table: a row per model and modulation setting,
    # one column per protocol.
    from motecli.eval.results import build_rows, read_results_dir

    rows = build_rows(read_results_dir(work / "results")[0])
    assert len(rows) == 5 and {tuple(sorted(r.cells)) for r in rows} == {
        ("trained-classes close-set 1x1", "unseen-classes zero-shot 3x1")}


def test_table_numbers_are_the_results_files(demo):
    report, _, _, _ = demo
    assert len(report.rows) == 5
    for row in report.rows:
        close, zero = (json.loads(p.read_text())["runs"][0] for p in row.results_files)
        assert row.close_set == close["top1_mean"] and row.zero_shot == zero["top1_mean"]
        assert row.zero_shot == pytest.approx(sum(s["top1"] for s in zero["splits"]) / 3)
        if row.close_set > 0 and row.zero_shot > 0:
            assert row.harmonic_mean == pytest.approx(2 / (1 / row.close_set + 1 / row.zero_shot))
    assert report.chance == {"close-set": 1 / 2, "zero-shot": 1 / 4}


def test_cli_rerun_resumes_and_prints_the_table(demo, monkeypatch):
    _, work, cache, _ = demo
    monkeypatch.setenv("MOTE_CACHE", str(cache))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(motecli.demo, "run_demo", functools.partial(motecli.demo.run_demo, pretrain=PRETRAIN))
    last = {p: p.stat().st_mtime_ns for p in (work / "runs").glob("*/last.pt")}
    sets = [a for s in SHORT for a in ("--set", s)]
    result = CliRunner().invoke(app, ["demo", "--workdir", str(work), "--recipe", str(RECIPE), *sets])
    assert result.exit_code == 0, result.output
    assert {p: p.stat().st_mtime_ns for p in last} == last  # nothing trained again
    for text in ("MoTE: 4 experts", "baseline: 1 expert", "mean pooling", "harmonic mean", "chance 50.0",
                 "chance 25.0", "(cached)", "done in"):
        assert text in result.stdout, text


def test_demo_names_a_missing_recipe(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path), "--recipe", str(tmp_path / "none.toml")])
    assert result.exit_code != 0 and "none.toml: no such file" in result.stderr and "Traceback" not in result.output


def test_zero_shot_classes_are_never_the_trained_ones():
    from motecli.demo import zero_shot_subjects

    assert zero_shot_subjects(["red circle", "blue square"]) == (
        "blue circle", "red square", "red triangle", "blue triangle", "red diamond", "blue diamond")
    assert zero_shot_subjects(["circle", "square"]) == ("triangle", "diamond", "cross", "ring")
    with pytest.raises(motecli.errors.MoteError, match="every entry a colour"):
        zero_shot_subjects(["red circle", "square"])


def test_the_trade_off_plot_holds_the_table(demo):
    report, _, _, drawn = demo
    plot = drawn["trade-off.png"]
    lines = {label: [] for label in plot["legend"]}
    for row in report.rows:
        lines[row.variant.label].append([pytest.approx(100 * row.close_set), pytest.approx(100 * row.zero_shot)])
    assert set(lines) == {v.label for v in motecli.demo.DEMO_VARIANTS}
    drawn_lines = plot["lines"]
    for points in lines.values():
        assert points in drawn_lines  # one line per model through its modulation settings
    chance = report.chance  # dotted lines at chance level: x = close-set, y = zero-shot
    assert [[100 * chance["close-set"], 0.0], [100 * chance["close-set"], 1.0]] in drawn_lines
    assert [[0.0, 100 * chance["zero-shot"]], [1.0, 100 * chance["zero-shot"]]] in drawn_lines


def test_pretrained_file_is_used_as_given(demo, tmp_path):
    _, _, cache, _ = demo
    weights = next((cache / "pretrained").glob("*.safetensors"))
    report = motecli.demo.DemoReport()
    assert motecli.demo.pretrained_clip(report, file=weights) == weights
    assert report.pretraining["config"] == PRETRAIN.to_dict() and report.pretraining["reused"]
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"not weights")
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path), "--recipe", str(RECIPE),
                                      "--pretrained", str(other)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"--pretrained {other}: not a pretrained tiny-CLIP file" in result.stderr


def test_ablation_grid_trains_each_switch_and_keeps_eval_settings_apart(demo, monkeypatch):
    _, work, cache, _ = demo
    monkeypatch.setenv("MOTE_CACHE", str(cache))
    by_slug = {v.slug: v for v in motecli.demo.ABLATION_VARIANTS if v.fine_tune}
    k1 = next(v for v in motecli.demo.ABLATION_VARIANTS if v.tfm_k == 1)
    grid = (motecli.demo.PLAIN_CLIP, by_slug["routing-fixed"], by_slug["tau-continuous"], k1)
    monkeypatch.setattr(motecli.demo, "ABLATION_VARIANTS", grid)
    report = motecli.demo.run_demo(workdir=work, recipe_path=RECIPE, overrides=SHORT, pretrain=PRETRAIN,
                                   ablation=True, plot=False)
    assert [(r.variant.label, r.modulation) for r in report.rows] == [
        (motecli.demo.PLAIN_CLIP.label, False), *((by_slug[s].label, m) for s in ("routing-fixed", "tau-continuous")
                                                  for m in (True, False)), (k1.label, True)]
    # Each switch reached its training run (the merged model records the recipe it came from).
    for slug, key, value in (("routing-fixed", "routing", "fixed"), ("tau-continuous", "tau_sampling", "continuous")):
        recipe = json.loads((work / "models" / f"{slug}.safetensors.json").read_text())["source"]["recipe"]
        assert recipe["model"][key] == value
    # The eval-only row reuses MoTE's fine-tuning and writes its files apart, with its k.
    k1_files = [json.loads(p.read_text()) for p in (work / "ablation" / "modulation-settings").glob("*.json")]
    assert {(f["settings"]["tfm_k"], Path(f["checkpoint"]["path"]).stem) for f in k1_files} == {(1, "mote")}
    assert all(json.loads(p.read_text())["settings"]["tfm_k"] == motecli.demo.TFM_K
               for p in (work / "ablation").glob("*.json"))
