"""`mote demo`, shortened through recipe overrides so it runs in seconds."""

import csv
import json
from pathlib import Path

import pytest
from plot_spy import spy_on_plots
from typer.testing import CliRunner

import motecli.cli  # noqa: F401
from motecli.cli_app import app

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "tiny.toml"
SHORT = ["--set", "solver.epochs=1", "--set", "solver.warmup_epochs=0",
         "--set", "data.synthetic_videos_per_class=3", "--set", "solver.total_batch=4"]


def test_demo_runs_the_whole_pipeline(tmp_path, monkeypatch):
    from motecli.eval import plots

    drawn = spy_on_plots(monkeypatch)
    folder_plots = []
    real_plot_results = plots.plot_results
    monkeypatch.setattr(plots, "plot_results",
                        lambda results_dir, out_dir: folder_plots.append((Path(results_dir), Path(out_dir)))
                        or real_plot_results(results_dir, out_dir))
    work = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--workdir", str(work), "--recipe", str(RECIPE), *SHORT])
    assert result.exit_code == 0, result.output
    assert (work / "run" / "last.pt").is_file()
    assert (work / "merged.safetensors").is_file() and (work / "merged.safetensors.json").is_file()
    runs = [json.loads(p.read_text()) for p in sorted((work / "results").glob("*.json"))]
    seen = {(r["settings"]["protocol"], r["settings"]["modulation"]) for r in runs}
    assert seen == {("close-set", True), ("close-set", False), ("zero-shot", True), ("zero-shot", False)}
    # Zero-shot classes are ones the recipe never trained on.
    merged_classes = set(json.loads((work / "merged.safetensors.json").read_text())["class_names"])
    zero_shot = next(p for p in (work / "results").glob("*.json") if "zero-shot" in p.name)
    with open(work / "results" / json.loads(zero_shot.read_text())["detail_files"]["per_class"]) as fh:
        zero_shot_classes = {line["class"] for line in csv.DictReader(fh)}
    assert zero_shot_classes and merged_classes.isdisjoint(zero_shot_classes)
    for png in ("trade-off.png", "zero-shot-per-class.png"):
        assert (work / "results" / png).read_bytes()[:4] == b"\x89PNG"
    # The per-class plot shows the zero-shot run with modulation, class by class, as its CSV holds it.
    zs_on = next(p for p in (work / "results").glob("*.json")
                 if "zero-shot" in p.name and json.loads(p.read_text())["settings"]["modulation"])
    with open(work / "results" / json.loads(zs_on.read_text())["detail_files"]["per_class"]) as fh:
        per_class = {line["class"]: float(line["top1"]) for line in csv.DictReader(fh) if line["split"] == "1"}
    assert sorted(drawn["zero-shot-per-class.png"]["bars"]) == sorted((n, pytest.approx(100 * v)) for n, v in per_class.items())
    # The folder's pictures come from the same function as `mote eval --plot`'s, for the results folder.
    assert folder_plots == [(work / "results", work / "results")]
    for line in ("close-set", "zero-shot", "merged model", "done in"):
        assert line in result.stdout


def test_demo_names_a_missing_recipe(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path), "--recipe", str(tmp_path / "none.toml")])
    assert result.exit_code != 0 and "none.toml: no such file" in result.stderr and "Traceback" not in result.output
