"""The published results shipped with the package: every number with its source, the
paper's summary scores recomputed from them, and the file packaged."""

import json
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from motecli.eval.published import PUBLISHED_FILE, load_published

ROOT = Path(__file__).resolve().parents[2]


def test_every_number_names_its_source():
    data = json.loads(PUBLISHED_FILE.read_text())
    for entry in data["entries"]:
        numbers = entry["k400"] + list(entry["zero_shot"].values())
        assert entry["backbone"] in ("ViT-B/16", "ViT-L/14") and entry["notes"], entry["method"]
        for number in numbers:
            assert 0 < number["top1"] < 100 and number["source"] and isinstance(number["verified"], bool), entry
        # A method left off the trade-off plot says why.
        if not entry["k400"] or len(entry["zero_shot"]) < 3:
            assert "not" in entry["notes"], entry["method"]


def test_the_papers_summary_scores_follow_from_the_mote_numbers():
    """MoTE's paper prints HM_ZS 67.9 and trade-off 74.2 (1x1) / 74.7 (4x3) for ViT-B/16,
    74.4 and 80.1 for ViT-L/14 (method specification, section 6)."""
    points = {p.label: p for p in load_published()}
    b16, l14 = points["MoTE (ViT-B/16)"], points["MoTE (ViT-L/14)"]
    assert round(100 * b16.hm_zs, 1) == 67.9 and round(100 * l14.hm_zs, 1) == 74.4
    hm = lambda a, b: 2 / (1 / a + 1 / b)  # noqa: E731
    assert round(100 * hm(0.818, b16.hm_zs), 1) == 74.2 and round(100 * hm(b16.k400, b16.hm_zs), 1) == 74.7
    assert b16.k400_views == "4x3" and round(100 * hm(l14.k400, l14.hm_zs), 1) == 80.1


def test_unverified_numbers_are_left_out(tmp_path):
    data = json.loads(PUBLISHED_FILE.read_text())
    entry = data["entries"][0]
    entry["k400"] = [dict(k, verified=False) for k in entry["k400"]]
    entry["zero_shot"]["ucf"]["protocol"] = "full set"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    point = load_published(path)[0]
    assert point.k400 is None and not point.on_trade_off_plot and not point.same_protocol
    assert point.zero_shot["hmdb"] == pytest.approx(entry["zero_shot"]["hmdb"]["top1"] / 100)


def test_every_asset_is_package_data():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["motecli"]
    assets = [p.relative_to(ROOT / "motecli").as_posix() for p in (ROOT / "motecli" / "assets").rglob("*") if p.is_file()]
    assert assets and all(any(fnmatch(a, g) for g in globs) for a in assets), assets
