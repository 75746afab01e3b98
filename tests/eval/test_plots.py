"""The plots receive the right data: the user's points per checkpoint and modulation
setting, the published points of the shipped data file, per-dataset bars."""

import json

import matplotlib  # noqa: F401  (required by the [test] extra: a broken install fails, never skips)
import numpy as np
import pytest
from results_files import result_file

from motecli.eval import plots
from motecli.eval.published import PUBLISHED_FILE
from motecli.eval.results import build_rows, read_results_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def hm(*values):
    return len(values) / sum(1 / v for v in values)


@pytest.fixture
def captured(monkeypatch):
    """The figures the plot functions would save, kept open for inspection."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    return figures


def published_from_file(y="hm_zs"):
    """Independent reading of the data file: label -> (x, y) in percent, for entries with both."""
    out = {}
    for e in json.loads(PUBLISHED_FILE.read_text())["entries"]:
        k400 = [k for k in e["k400"] if k["verified"]]
        zero = {r: v["top1"] for r, v in e["zero_shot"].items() if v["verified"]}
        if not k400 or not all(r in zero for r in ("ucf", "hmdb", "k600")):
            continue
        best = max(k400, key=lambda k: 0 if not k["views"] else eval(k["views"].replace("x", "*")))
        out[f"{e['method']} ({e['backbone']})"] = (best["top1"], hm(zero["ucf"], zero["hmdb"], zero["k600"]) if y == "hm_zs" else zero[y])
    return out


@pytest.fixture
def folder(tmp_path):
    on, off = (5, 0.05), None
    for ds, (with_mod, without) in dict(ucf101=(0.8, 0.6), hmdb51=(0.5, 0.4), k600=(0.7, 0.65)).items():
        result_file(tmp_path, f"{ds}-a.json", dataset=ds, runs={on: {1: with_mod, 2: with_mod}}, name="a")
        result_file(tmp_path, f"{ds}-a-off.json", dataset=ds, modulation=False, runs={off: {1: without, 2: without}}, name="a")
    result_file(tmp_path, "k400-a.json", dataset="k400", protocol="close-set", views=(1, 1), runs={on: {1: 0.82}},
                finetune_classes=True, name="a")
    result_file(tmp_path, "ucf101-b.json", dataset="ucf101", checkpoint="bbbbbbbbbb", runs={on: {1: 0.3}}, name="b")
    return tmp_path


def test_trade_off_plot_receives_published_and_user_points(folder, captured):
    assert plots.plot_trade_off(folder, folder / "t.png") == folder / "t.png"
    (fig,) = captured
    ax = fig.axes[0]
    # The user's checkpoint: one line through modulation off and on, K400 against HM_ZS.
    expected_user = [[82.0, 100 * hm(0.6, 0.4, 0.65)], [82.0, 100 * hm(0.8, 0.5, 0.7)]]  # off first
    (line,) = [ln for ln in ax.lines]
    np.testing.assert_allclose(line.get_xydata(), expected_user)
    # The published points: every entry of the data file that has both coordinates, at its numbers.
    published = published_from_file()
    drawn = {t.get_text().rstrip(" *"): t.xy for t in ax.texts if t.get_text().rstrip(" *") in published}
    assert drawn.keys() == published.keys() and {"MoTE (ViT-B/16)", "X-CLIP (ViT-B/16)"} <= drawn.keys()
    for label, (x, y) in published.items():
        np.testing.assert_allclose(drawn[label], (x, y))
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    for point in list(published.values()) + expected_user:
        assert np.isclose(offsets, point).all(axis=1).any(), point
    # Checkpoint b has no K400: not on the plot.
    assert not any("bbbbbbbbbb" in t.get_text() for t in ax.get_legend().get_texts())


def test_per_dataset_trade_off_and_left_out_peers(folder):
    series = plots.trade_off_series(build_rows(read_results_dir(folder)[0]), y="hmdb")
    assert [p["y"] for p in series["lines"][0]["points"]] == pytest.approx([40.0, 50.0])
    published = published_from_file("hmdb")
    got = {p["label"]: (p["x"], p["y"]) for p in series["published"]}
    assert got.keys() == published.keys()
    np.testing.assert_allclose([got[k] for k in published], [published[k] for k in published])
    assert {"Open-VCLIP (ViT-B/16)", "FROSTER (ViT-B/16)"} <= set(series["published_left_out"])  # no verified K400


def test_dataset_bars_receive_every_row(folder, captured):
    plots.plot_dataset_bars(folder, folder / "bars.png")
    (fig,) = captured
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["UCF", "HMDB", "K600", "K400 1x1", "HM_ZS"]
    from matplotlib.container import BarContainer

    heights = {c.get_label(): [b.get_height() for b in c] for c in ax.containers if isinstance(c, BarContainer)}
    a_on = next(k for k in heights if k.startswith("a ") and k.endswith("λ=0.05"))
    b_on = next(k for k in heights if k.startswith("b "))
    assert heights[a_on] == pytest.approx([80, 50, 70, 82, 100 * hm(0.8, 0.5, 0.7)])
    assert heights[b_on] == pytest.approx([30])  # b has UCF only: one bar


def test_no_trade_off_plot_without_both_kinds(tmp_path):
    result_file(tmp_path, "ucf.json", dataset="ucf101")
    assert plots.plot_trade_off(tmp_path, tmp_path / "t.png") is None and not (tmp_path / "t.png").exists()


def test_per_class_plot_draws_sorted_bars_and_the_overall_line(tmp_path, captured):
    per_class = {"a": dict(top1=1.0, videos=1), "b": dict(top1=0.0, videos=1), "c": dict(top1=0.25, videos=4)}
    res = dict(name="ucf101", settings=dict(protocol="zero-shot"), runs=[dict(splits=[dict(top1=0.5, per_class=per_class)])])
    assert plots.plot_per_class(res, tmp_path / "pc.png") == tmp_path / "pc.png"
    (fig,) = captured
    ax = fig.axes[0]
    fig.canvas.draw()  # lays out the categorical tick labels
    bars = [(label.get_text(), bar.get_width()) for label, bar in zip(ax.get_yticklabels(), ax.patches)]
    assert bars == [("b", 0.0), ("c", 25.0), ("a", 100.0)]  # worst class first
    assert [line.get_xdata()[0] for line in ax.lines] == [50.0]
    assert "ucf101" in ax.get_title() and "zero-shot" in ax.get_title()


def test_per_class_plot_is_a_png(tmp_path):
    res = dict(name="ucf101", settings=dict(protocol="zero-shot"), runs=[dict(splits=[dict(
        top1=0.5, per_class={"a": dict(top1=1.0, videos=1), "b": dict(top1=0.0, videos=1)})])])
    assert plots.plot_per_class(res, tmp_path / "pc.png").read_bytes().startswith(PNG_MAGIC)


def test_few_shot_plot_receives_seeds_means_and_the_papers_points(tmp_path, captured):
    """Per dataset: each grid's mean ± std and seed points against K (head-only dashed), the
    paper's Table 5 points (read here from the data file) beside the grid of its protocol."""
    from motecli.eval.fewshot_table import few_shot_grids
    from motecli.eval.published import FEW_SHOT_FILE

    def cell(name, *, grid, k, seed, top1, mode="full"):
        result_file(tmp_path, name, dataset="ucf101", checkpoint=f"{grid}{k}{seed}".ljust(10, "0"), protocol="close-set",
                    views=(1, 1), modulation=False, runs={None: {1: top1}},
                    few_shot=dict(grid=grid, mode=mode, k=k, seed=seed, benchmark="ucf", dataset="ucf101", split=1,
                                  model="ViT-B-16", pretrained="openai", num_frames=8, epochs=10))

    cell("a.json", grid="full", k=2, seed=0, top1=0.8)
    cell("b.json", grid="full", k=2, seed=1, top1=0.9)
    cell("c.json", grid="head", k=2, seed=0, top1=0.5, mode="head-only")
    grids = few_shot_grids(read_results_dir(tmp_path)[0])
    (panel,) = plots.few_shot_series(grids)
    full, head = panel["lines"]
    assert (full["head_only"], head["head_only"]) == (False, True) and "head-only" in head["label"]
    assert full["points"] == [dict(k=2, mean=pytest.approx(85.0), std=pytest.approx(5.0), seeds=[80.0, 90.0])]
    ucf = next(e for e in json.loads(FEW_SHOT_FILE.read_text())["entries"] if e["benchmark"] == "ucf")
    (paper,) = panel["paper"]  # once, beside the full grid; never from the head-only one
    expected = [(int(k), pytest.approx(v["top1"])) for k, v in ucf["shots"].items()]
    assert [(p["k"], p["top1"]) for p in paper["points"]] == expected
    assert plots.plot_few_shot(grids, tmp_path / "few-shot.png") == tmp_path / "few-shot.png" and captured
    assert plots.plot_few_shot([], tmp_path / "none.png") is None
