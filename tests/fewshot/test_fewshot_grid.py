"""`mote few-shot` end to end on the synthetic videos with the tiny model: one result per
(K, seed) cell with its checkpoint's identity, nested lists, a kill in the middle of a
cell's training that the next run finishes without redoing anything, the head-only proxy
labelled as such everywhere, and the grid under torchrun with two ranks."""

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import motecli.cli  # noqa: F401
from cli_asserts import assert_one_line_error
from motecli.cli_app import app
from mote_builders import mote_env

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny.toml"
SHORT = ["--set", "solver.warmup_epochs=0", "--set", "solver.total_batch=8", "--set", "data.workers=0",
         "--set", "model.num_frames=4"]


def grid_args(out, synth, *, epochs=2, shots="1,2", seeds="0", extra=()):
    return ["few-shot", str(out), "--dataset", "synth", "--datasets-config", str(synth.config), "--recipe", str(TINY),
            *SHORT, "--set", f"solver.epochs={epochs}", "--shots", shots, "--seeds", seeds, "--no-plot", *extra]


def records(path: Path, kind: str) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == kind]


def cell_results(out: Path) -> dict[tuple[int, int], dict]:
    found = {}
    for path in sorted((out / "results").glob("*.json")):
        data = json.loads(path.read_text())
        key = (data["few_shot"]["k"], data["few_shot"]["seed"])
        assert key not in found, f"two results files for cell {key}"
        found[key] = data | {"path": path}
    return found


def distinct(list_file: Path) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in list_file.read_text().splitlines()}


@pytest.fixture(scope="module")
def grid(synth, tmp_path_factory):
    """A finished grid: K = 1, 2, seed 0, two epochs (module scope: several tests read it)."""
    out = tmp_path_factory.mktemp("fewshot") / "grid"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTE_CACHE", str(out.parent / "cache"))
        result = CliRunner().invoke(app, grid_args(out, synth, extra=["-f", "csv"]))
    assert result.exit_code == 0, result.output
    return out, result


def test_tiny_grid_writes_one_result_per_cell_with_its_checkpoint(grid):
    out, result = grid
    found = cell_results(out)
    assert set(found) == {(1, 0), (2, 0)}
    for (k, seed), data in found.items():
        cell = out / "cells" / f"{k}shot-seed{seed}"
        merged = cell / "merged.safetensors"
        assert data["checkpoint"]["sha256"] == hashlib.sha256(merged.read_bytes()).hexdigest()
        assert data["checkpoint"]["training_run"]["path"] == str(cell / "run" / "last.pt")
        assert data["checkpoint"]["training_run"]["epoch"] == 2
        assert data["few_shot"]["mode"] == "full" and data["settings"]["clips"] * data["settings"]["crops"] == 1
        list_file = Path(data["few_shot"]["list"]["path"])
        assert data["few_shot"]["list"]["sha256"] == hashlib.sha256(list_file.read_bytes()).hexdigest()
        # The model trained on that list: the run's recipe points at it.
        start = records(cell / "run" / "metrics.jsonl", "start")[0]
        assert start["recipe"]["data"]["list_file"] == str(list_file)
        # top-1 from the per-video predictions beside the results file, by hand.
        split = data["runs"][0]["splits"][0]
        with open(data["path"].with_name(data["detail_files"]["predictions"])) as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == split["videos"] == 8
        assert split["top1"] == sum(r["top1"] == r["label"] for r in rows) / len(rows)
    lines = result.stderr.splitlines()
    assert any(line.startswith("[1/2] K=1 seed 0: top-1") and "ETA" in line for line in lines), result.stderr
    assert any(line.startswith("[2/2] K=2 seed 0: top-1") for line in lines), result.stderr


def test_grid_lists_are_k_per_class_nested_across_k_and_full_size(tmp_path):
    """The grid's lists (drawn before any training), on a list dataset with 6 train videos
    per class so that nesting is not automatic: per seed, each K's videos contain the
    smaller K's; every list has the full train split's length; seeds draw differently."""
    from motecli.fewshot.plan import GridSpec, plan_grid
    from motecli.train.recipe import load_recipe

    classes, per_class = 5, 6
    (tmp_path / "labels.txt").write_text("".join(f"class {c}\n" for c in range(classes)))
    (tmp_path / "train.txt").write_text("".join(f"c{c}/v{j}.mp4 {c}\n" for c in range(classes) for j in range(per_class)))
    (tmp_path / "test.txt").write_text("".join(f"c{c}/t.mp4 {c}\n" for c in range(classes)))
    config = tmp_path / "datasets.toml"
    config.write_text('[big]\nlayout = "list"\nroot = "."\ntrain = "train.txt"\ntest = "test.txt"\nlabels = "labels.txt"\n')
    spec = GridSpec(out_dir=tmp_path / "grid", recipe=load_recipe(TINY), recipe_file=TINY, dataset="big", split=1,
                    datasets_config=config, shots=(1, 2, 4), seeds=(0, 1))
    grid = plan_grid(spec, write=True)
    assert [(c.k, c.seed) for c in grid.cells] == [(1, 0), (2, 0), (4, 0), (1, 1), (2, 1), (4, 1)]
    drawn = {(c.k, c.seed): distinct(c.list_file) for c in grid.cells}
    for cell in grid.cells:
        lines = cell.list_file.read_text().splitlines()
        assert len(lines) == classes * per_class  # repeated to the full train split
        labels = [int(line.rsplit(" ", 1)[1]) for line in set(lines)]
        assert sorted(labels) == sorted(list(range(classes)) * cell.k)
    for seed in (0, 1):
        assert drawn[(1, seed)] < drawn[(2, seed)] < drawn[(4, seed)]
    assert drawn[(2, 0)] != drawn[(2, 1)]


def test_grid_table_is_the_mean_of_its_result_files(grid):
    out, result = grid
    found = cell_results(out)
    table = {int(r["k"]): r for r in csv.DictReader(result.stdout.splitlines())}
    for (k, _), data in found.items():
        assert table[k]["top1_mean"] == f"{100 * data['runs'][0]['top1_mean']:.2f}"
        assert table[k]["seeds"] == "1" and table[k]["mode"] == "full"
    assert (out / "few-shot.csv").read_text() == result.stdout
    assert "no published few-shot figure for synth" in (out / "few-shot.md").read_text()


def test_a_second_run_redoes_nothing_and_another_setting_is_refused(grid, synth, monkeypatch):
    out, _ = grid
    monkeypatch.setenv("MOTE_CACHE", str(out.parent / "cache"))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.suffix != ".csv"
              and p.name not in ("few-shot.md", "few-shot.json", "grid.json")}
    again = CliRunner().invoke(app, grid_args(out, synth))
    assert again.exit_code == 0, again.output
    assert "[1/2] K=1 seed 0: done earlier" in again.stderr and "[2/2] K=2 seed 0: done earlier" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in before} == before
    moved = out.parent / "moved"  # a grid folder moved elsewhere is still finished
    shutil.copytree(out, moved)
    again = CliRunner().invoke(app, grid_args(moved, synth))
    assert again.exit_code == 0 and again.stderr.count("done earlier") == 2, again.output
    other = CliRunner().invoke(app, grid_args(out, synth, epochs=3))
    assert_one_line_error(other, "holds a grid of another setting", "solver.epochs = 3 here, 2 in the grid")


def test_killed_during_the_second_cell_the_grid_finishes_without_redoing_the_first(synth, tmp_path):
    out = tmp_path / "grid"
    env = mote_env(tmp_path / "cache")
    second = out / "cells" / "2shot-seed0" / "run" / "last.pt"
    proc = subprocess.Popen([sys.executable, "-m", "motecli", *grid_args(out, synth)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not second.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read()[-2000:]  # still training the second cell
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    proc.stderr.close()
    first_results = cell_results(out)
    assert set(first_results) == {(1, 0)} and not (second.parent.parent / "cell.json").exists()

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTE_CACHE", str(tmp_path / "cache"))
        rerun = CliRunner().invoke(app, grid_args(out, synth))
    assert rerun.exit_code == 0, rerun.output
    assert "[1/2] K=1 seed 0: done earlier" in rerun.stderr
    # Count the trainings: every epoch of every cell ran exactly once; the first cell's run
    # started once; the second resumed from its last.pt instead of starting over.
    first, second_metrics = (out / "cells" / f"{k}shot-seed0" / "run" / "metrics.jsonl" for k in (1, 2))
    assert [r["epoch"] for r in records(first, "epoch")] == [1, 2]
    assert len(records(first, "start")) == 1
    assert [r["epoch"] for r in records(second_metrics, "epoch")] == [1, 2]
    starts = [r["epoch"] for r in records(second_metrics, "start")]
    assert starts[0] == 0 and len(starts) == 2 and starts[1] >= 1
    found = cell_results(out)
    assert set(found) == {(1, 0), (2, 0)}
    assert found[(1, 0)]["path"] == first_results[(1, 0)]["path"]
    assert found[(1, 0)]["created"] == first_results[(1, 0)]["created"]  # not evaluated again


def test_head_only_grid_is_labelled_in_every_output(synth, tmp_path, monkeypatch):
    """The proxy, on a dataset the paper has figures for (synth_ucf has the UCF-101 layout):
    no paper figure beside it, and 'head-only' in files, names, tables and progress lines."""
    monkeypatch.setenv("MOTE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "head"
    args = grid_args(out, synth, seeds="0,1", extra=["--head-only", "-f", "markdown"])
    args[args.index("synth")] = "synth_ucf"
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    found = cell_results(out)
    assert set(found) == {(1, 0), (2, 0), (1, 1), (2, 1)}
    for data in found.values():
        assert data["few_shot"]["mode"] == "head-only" and data["few_shot"]["benchmark"] == "ucf"
        assert data["name"].endswith("-head-only") and "head-only" in data["path"].name
        assert data["few_shot"]["start_checkpoint"]["name"]
    assert all("] head-only K=" in line for line in result.stderr.splitlines() if line.startswith("["))
    assert "HEAD-ONLY PROXY" in result.stdout and "paper (none: head-only)" in result.stdout
    lines = list(csv.DictReader((out / "few-shot.csv").read_text().splitlines()))
    assert {line["mode"] for line in lines} == {"head-only"} and {line["paper_top1"] for line in lines} == {""}
    table = json.loads((out / "few-shot.json").read_text())["grids"][0]
    assert table["paper"] is None and "head-only proxy" in table["differs_from_paper"][0]
    # mean over the two seeds, from the result files by hand
    for row in table["rows"]:
        values = [found[(row["k"], s)]["runs"][0]["top1_mean"] for s in (0, 1)]
        assert row["top1_mean"] == pytest.approx(sum(values) / 2)
        assert row["top1_std"] == pytest.approx(abs(values[0] - values[1]) / 2)


def test_bad_few_shot_options_are_one_line_errors(synth, tmp_path):
    runner = CliRunner()
    assert_one_line_error(runner.invoke(app, grid_args(tmp_path / "a", synth, shots="2,x")), "--shots", "whole numbers")
    assert_one_line_error(runner.invoke(app, grid_args(tmp_path / "a", synth, extra=["--checkpoint", "m.safetensors"])),
                          "--checkpoint", "--head-only")
    assert_one_line_error(runner.invoke(app, grid_args(tmp_path / "a", synth, shots="5")), "fewer than K=5")
    no_recipe = ["few-shot", str(tmp_path / "b"), "--dataset", "synth", "--datasets-config", str(synth.config)]
    assert_one_line_error(runner.invoke(app, no_recipe), "no shipped few-shot recipe", "--recipe")


def test_grid_under_torchrun_writes_each_file_once(synth, tmp_path):
    out = tmp_path / "grid"
    env = mote_env(tmp_path / "cache")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
           "--rdzv-endpoint", "localhost:0", "-m", "motecli", *grid_args(out, synth, epochs=1, shots="1")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = cell_results(out)
    assert set(found) == {(1, 0)} and found[(1, 0)]["runs"][0]["splits"][0]["videos"] == 8
    metrics = out / "cells" / "1shot-seed0" / "run" / "metrics.jsonl"
    assert len(records(metrics, "start")) == 1 and records(metrics, "start")[0]["world_size"] == 2
    assert len(records(metrics, "epoch")) == 1
    assert proc.stderr.count("[1/1] K=1 seed 0: top-1") == 1  # rank 0 reports
    assert proc.stdout.count("synth split 1: mote-tiny") == 1


@pytest.mark.parametrize("dataset, ssv2", [("synth_ssv2", True), ("synth", False)])
def test_a_cell_trains_with_its_datasets_pixels_from_a_list(synth, tmp_path, dataset, ssv2):
    """Each cell trains from a list file, which hides the dataset's layout: a recipe that
    leaves data.ssv2 to the layout still gets the SSv2 pixels on an SSv2 dataset."""
    from motecli.fewshot.plan import GridSpec, cell_recipe, plan_grid
    from motecli.train.recipe import load_recipe

    spec = GridSpec(out_dir=tmp_path / "grid", recipe=load_recipe(TINY), recipe_file=TINY, dataset=dataset, split=1,
                    datasets_config=synth.config, shots=(1,), seeds=(3,))
    grid = plan_grid(spec, write=True)
    recipe = cell_recipe(grid, grid.cells[0])
    assert recipe.data.ssv2 is ssv2 and recipe.data.list_file == str(grid.cells[0].list_file)
    assert recipe.run.seed == spec.recipe.run.seed + 3 and recipe.run.output == str(grid.cells[0].run_dir)
    assert recipe.data.val_list_file is None and not recipe.data.synthetic
