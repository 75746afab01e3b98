"""`mote results` and the HM_ZS / trade-off grouping, on results files with chosen numbers."""

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from results_files import result_file

from motecli.errors import MoteError
from motecli.eval.results import build_rows, read_results_dir, sort_rows


def hm(*values):
    return len(values) / sum(1 / v for v in values)


def pct(x):
    return f"{100 * x:.2f}"


@pytest.fixture
def folder(tmp_path):
    """Checkpoint A (modulation on, and off), B (on), C (UCF only); K400 of A only."""
    f = tmp_path / "results"
    f.mkdir()
    on = (5, 0.05)
    # A, modulation on: UCF split by split in three files, HMDB and K600 with --split all.
    for split, top1 in ((1, 0.80), (2, 0.70), (3, 0.75)):
        result_file(f, f"ucf-a-s{split}.json", dataset="ucf101", checkpoint="aaaa", runs={on: {split: top1}}, name="a")
    result_file(f, "hmdb-a.json", dataset="hmdb51", checkpoint="aaaa", runs={on: {1: 0.50, 2: 0.60, 3: 0.55}}, name="a")
    result_file(f, "k600-a.json", dataset="k600", checkpoint="aaaa", runs={on: {1: 0.70, 2: 0.72, 3: 0.68}}, name="a")
    # K400 of A: close-set on the fine-tuning classes, evaluated with modulation on (a no-op there).
    result_file(f, "k400-a-1x1.json", dataset="k400", checkpoint="aaaa", protocol="close-set", views=(1, 1),
                runs={on: {1: 0.82}}, finetune_classes=True, name="a")
    result_file(f, "k400-a-4x3.json", dataset="kinetics400", checkpoint="aaaa", protocol="close-set", views=(4, 3),
                runs={on: {1: 0.83}}, finetune_classes=True, name="a")
    # A without modulation, written later, other numbers: must never enter A's modulated row.
    late = "2026-02-01T00:00:00"
    for ds, top1 in (("ucf101", 0.30), ("hmdb51", 0.20), ("k600", 0.40)):
        result_file(f, f"{ds}-a-nomod.json", dataset=ds, checkpoint="aaaa", modulation=False,
                    runs={None: {1: top1, 2: top1, 3: top1}}, created=late, name="a")
    # B, newer still: never enters A's rows.
    for ds, top1 in (("ucf101", 0.90), ("hmdb51", 0.91), ("k600", 0.92)):
        result_file(f, f"{ds}-b.json", dataset=ds, checkpoint="bbbb", runs={on: {1: top1, 2: top1, 3: top1}},
                    created="2026-03-01T00:00:00", name="b")
    result_file(f, "ucf-c.json", dataset="ucf101", checkpoint="cccc", runs={on: {1: 0.6}}, name="c")
    return f


def rows_by(folder, **kw):
    runs, skipped = read_results_dir(folder)
    return {(r.checkpoint, r.modulation): r for r in build_rows(runs, **kw)}, skipped


def test_hm_zs_per_checkpoint_and_modulation_from_own_files(folder):
    rows, _ = rows_by(folder)
    a = rows[("aaaa", "k=5 λ=0.05")]
    ucf, hmdb, k600 = np.mean([0.80, 0.70, 0.75]), np.mean([0.50, 0.60, 0.55]), np.mean([0.70, 0.72, 0.68])
    assert a.cells["ucf"].mean == pytest.approx(ucf) and a.cells["ucf"].std == pytest.approx(np.std([0.80, 0.70, 0.75]))
    assert a.hm_zs == pytest.approx(hm(ucf, hmdb, k600))
    assert a.trade_off == pytest.approx(hm(0.83, hm(ucf, hmdb, k600)))  # K400 4x3 counts when present
    assert a.k400 == (pytest.approx(0.83), "4x3")
    assert set(a.files) == {"ucf-a-s1.json", "ucf-a-s2.json", "ucf-a-s3.json", "hmdb-a.json", "k600-a.json",
                            "k400-a-1x1.json", "k400-a-4x3.json"}  # no file of B, none without modulation
    assert a.missing == []
    off = rows[("aaaa", "off")]
    assert off.hm_zs == pytest.approx(hm(0.30, 0.20, 0.40))
    assert off.value("k400_1x1") == pytest.approx(0.82)  # close-set on the fine-tuning classes: a no-op setting
    assert not any("nomod" not in f and "k400" not in f for f in off.files)
    b = rows[("bbbb", "k=5 λ=0.05")]
    assert b.hm_zs == pytest.approx(hm(0.90, 0.91, 0.92)) and b.trade_off is None
    assert b.missing == ["K400 close-set"] and all(f.endswith("-b.json") for f in b.files)
    c = rows[("cccc", "k=5 λ=0.05")]
    assert c.hm_zs is None and c.missing == ["HMDB zero-shot", "K600 zero-shot", "K400 close-set"]


def test_a_close_set_file_of_another_setting_counts_only_when_modulation_is_a_no_op(tmp_path):
    result_file(tmp_path, "ucf.json", dataset="ucf101", modulation=False, runs={None: {1: 0.5}})
    result_file(tmp_path, "k400.json", dataset="k400", protocol="close-set", views=(1, 1), runs={(5, 0.05): {1: 0.8}},
                finetune_classes=False)  # other test classes: modulation changed these numbers
    rows, _ = rows_by(tmp_path)
    assert "k400_1x1" not in rows[("aaaaaaaaaa", "off")].cells
    assert rows[("aaaaaaaaaa", "k=5 λ=0.05")].value("k400_1x1") == 0.8  # it gets its own row


def test_newest_file_wins_per_split(tmp_path):
    result_file(tmp_path, "old.json", dataset="hmdb51", runs={(5, 0.05): {1: 0.1, 2: 0.2}}, created="2026-01-01")
    result_file(tmp_path, "new.json", dataset="hmdb51", runs={(5, 0.05): {2: 0.4}}, created="2026-01-02")
    (row,) = rows_by(tmp_path)[0].values()
    assert row.cells["hmdb"].mean == pytest.approx(np.mean([0.1, 0.4])) and row.cells["hmdb"].splits == ["1", "2"]


def test_best_scale_per_dataset_is_marked_as_chosen_on_test(tmp_path):
    sweep = {(5, 0.04): {1: 0.50}, (5, 0.05): {1: 0.55}, (5, 0.06): {1: 0.52}}
    result_file(tmp_path, "ucf.json", dataset="ucf101", runs=sweep)
    result_file(tmp_path, "hmdb.json", dataset="hmdb51", runs={(5, 0.04): {1: 0.40}, (5, 0.05): {1: 0.30}, (5, 0.06): {1: 0.35}})
    result_file(tmp_path, "k600.json", dataset="k600", runs={(5, 0.04): {1: 0.6}, (5, 0.05): {1: 0.6}, (5, 0.06): {1: 0.7}})
    rows, _ = rows_by(tmp_path, best_scale=True)
    best = rows[("aaaaaaaaaa", "best per dataset (test)")]
    assert best.chosen == {"ucf": "k=5 λ=0.05", "hmdb": "k=5 λ=0.04", "k600": "k=5 λ=0.06"}
    assert best.hm_zs == pytest.approx(hm(0.55, 0.40, 0.70))
    assert rows_by(tmp_path)[0].keys() == {("aaaaaaaaaa", f"k=5 λ={s}") for s in ("0.04", "0.05", "0.06")}


def test_sort_and_bad_sort(folder):
    runs, _ = read_results_dir(folder)
    ordered = sort_rows(build_rows(runs), "hm_zs")
    assert [(r.checkpoint, r.modulation) for r in ordered][:2] == [("bbbb", "k=5 λ=0.05"), ("aaaa", "k=5 λ=0.05")]
    assert ordered[-1].hm_zs is None  # missing last
    with pytest.raises(MoteError, match="--sort 'nope'"):
        sort_rows(ordered, "nope")


def expected_csv_line(checkpoint, name, modulation, cells, k400, trade_views, missing, files):
    """One CSV line from hand-computed figures: cells = {role: list of per-split top-1}."""
    line = [checkpoint, name, "T=8", modulation, "false"]
    means = {}
    for role in ("ucf", "hmdb", "k600"):
        values = cells.get(role)
        if values is None:
            line += ["", "", ""]
            continue
        means[role] = np.mean(values)
        line += [pct(np.mean(values)), pct(np.std(values)), " ".join(str(s) for s in range(1, len(values) + 1))]
    hm_zs = hm(*means.values()) if len(means) == 3 else None
    k400_main = k400.get("4x3", k400.get("1x1"))
    trade = hm(k400_main, hm_zs) if hm_zs and k400_main else None
    line += [pct(k400["1x1"]) if "1x1" in k400 else "", pct(k400["4x3"]) if "4x3" in k400 else "",
             pct(hm_zs) if hm_zs else "", pct(trade) if trade else "", trade_views, "; ".join(missing), " ".join(files)]
    return line


def test_mote_results_prints_the_expected_csv(folder):
    (folder / "notes.json").write_text("{not json")
    result_file(folder, "future.json", dataset="ucf101", checkpoint="dddd")
    future = json.loads((folder / "future.json").read_text()) | dict(format_version=99)
    (folder / "future.json").write_text(json.dumps(future))
    proc = subprocess.run([sys.executable, "-m", "motecli", "results", str(folder), "--format", "csv", "--sort", "hm_zs"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "notes.json: not readable JSON" in proc.stderr and "future.json: format_version 99" in proc.stderr
    got = list(csv.reader(io.StringIO(proc.stdout)))
    a_files = "hmdb-a.json k400-a-1x1.json k400-a-4x3.json k600-a.json ucf-a-s1.json ucf-a-s2.json ucf-a-s3.json"
    off_files = "hmdb51-a-nomod.json k400-a-1x1.json k400-a-4x3.json k600-a-nomod.json ucf101-a-nomod.json"
    expected = [
        expected_csv_line("bbbb", "b", "k=5 λ=0.05", dict(ucf=[0.9] * 3, hmdb=[0.91] * 3, k600=[0.92] * 3), {}, "",
                          ["K400 close-set"], "hmdb51-b.json k600-b.json ucf101-b.json".split()),
        expected_csv_line("aaaa", "a", "k=5 λ=0.05", dict(ucf=[0.8, 0.7, 0.75], hmdb=[0.5, 0.6, 0.55], k600=[0.7, 0.72, 0.68]),
                          {"1x1": 0.82, "4x3": 0.83}, "4x3", [], a_files.split()),
        expected_csv_line("aaaa", "a", "off", dict(ucf=[0.3] * 3, hmdb=[0.2] * 3, k600=[0.4] * 3),
                          {"1x1": 0.82, "4x3": 0.83}, "4x3", [], off_files.split()),
        expected_csv_line("cccc", "c", "k=5 λ=0.05", dict(ucf=[0.6]), {}, "",
                          ["HMDB zero-shot", "K600 zero-shot", "K400 close-set"], ["ucf-c.json"]),
    ]
    assert got[0][:8] == ["checkpoint", "name", "variant", "modulation", "chosen_on_test", "ucf", "ucf_std", "ucf_splits"]
    assert got[1:] == expected


def test_mote_results_imports_no_torch(folder):
    """`mote results` stays out of torch (and numpy, h5py): checked in the interpreter itself."""
    code = (
        "import sys; sys.argv = ['mote', 'results', sys.argv[1], '--format', 'json']\n"
        "import motecli.cli\n"
        "try:\n    motecli.cli.main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('HEAVY', sorted(m for m in ('torch', 'numpy', 'h5py', 'open_clip', 'decord') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code, str(folder)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("HEAVY []")
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "motecli.eval.results" in imported and not {m for m in imported if m.split(".")[0] == "torch"}
    rows = json.loads(proc.stdout[: proc.stdout.rindex("HEAVY")])["rows"]
    assert {(r["checkpoint"], r["modulation"]) for r in rows} >= {("aaaa", "off"), ("bbbb", "k=5 λ=0.05")}


def test_markdown_table_and_errors(folder, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "motecli", "results", str(folder), "--format", "markdown"],
                          capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| checkpoint | name | variant | modulation | UCF | HMDB | K600 | K400 1x1 | K400 4x3 | HM_ZS")
    assert len(lines) == 2 + 4
    assert any("| cccc |" in line and "60.00 (split 1)" in line and "missing HMDB zero-shot" in line for line in lines)
    table = subprocess.run([sys.executable, "-m", "motecli", "results", str(folder), "--sort", "hm_zs"],
                           capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert table[1].split() == ["#", "checkpoint", "modulation", "UCF", "HMDB", "K600", "K400", "1x1", "K400", "4x3",
                                "HM_ZS", "trade-off"]
    assert table[3].split()[:3] == ["1", "b", "bbbb"] and table[-2:] == ["#1: missing K400 close-set",
                                                                        "#4: missing HMDB zero-shot, K600 zero-shot, K400 close-set"]
    for args, fragment in (([str(tmp_path / "none")], "no such results folder"), ([str(folder), "--format", "xml"], "--format 'xml'"),
                           ([str(folder), "--sort", "speed"], "--sort 'speed'")):
        bad = subprocess.run([sys.executable, "-m", "motecli", "results", *args], capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and fragment in bad.stderr, bad.stderr
