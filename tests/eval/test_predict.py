"""`mote predict` with a tiny model trained here on three colours, on video files."""

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset
from typer.testing import CliRunner

import motecli.cli  # noqa: F401
from motecli.cli_app import app
from motecli.data.transforms import eval_views

COLOURS = {"red paint": (200, 30, 30), "green grass": (30, 190, 40), "blue sky": (40, 60, 210)}
NAMES = list(COLOURS)
T, H, W = 4, 48, 64


def _frames(colour, rng: np.random.Generator, n: int = T) -> np.ndarray:
    """A clip of one colour with noise and a moving grey bar: uint8 [n, H, W, 3]."""
    base = np.array(colour, np.float32)
    frames = base + rng.normal(0, 12, size=(n, H, W, 3))
    for t in range(n):
        x = (t * 9 + int(rng.integers(0, 20))) % (W - 10)
        frames[t, :, x:x + 10] = 128
    return np.clip(frames, 0, 255).astype(np.uint8)


class ColourClips(Dataset):
    """Training items in the data module's contract, preprocessed as evaluation does."""

    def __init__(self, size: int, *, seed: int, views: bool = False):
        self.size, self.seed, self.views = size, seed, views

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        label = index % len(NAMES)
        rng = np.random.default_rng([self.seed, index])
        x = eval_views(_frames(COLOURS[NAMES[label]], rng))  # [1, T, 3, S, S]
        return dict(frames=x if self.views else x[0], label=label, index=index, error=None, path=f"clip{index}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model fine-tuned on the colour classes, merged."""
    from motecli.merge.merge import merge_checkpoint
    from motecli.train.data import TrainData
    from motecli.train.distributed import init_distributed
    from motecli.train.loop import fit
    from motecli.train.recipe import recipe_from_dict

    out = tmp_path_factory.mktemp("colours")
    recipe = recipe_from_dict({
        "model": {"name": "mote-tiny", "num_frames": T, "layers": 2, "experts": 4},
        "data": {"synthetic": True, "workers": 0},
        "solver": {"epochs": 6, "warmup_epochs": 1, "total_batch": 6, "lr": 2e-3, "clip_lr_ratio": 1.0},
        "run": {"output": str(out / "run"), "precision": "fp32", "val_every": 6, "log_every": 10},
    })
    data = TrainData(train=ColourClips(24, seed=0), val=ColourClips(6, seed=1, views=True),
                     class_names=NAMES, description="colours")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTE_CACHE", str(out / "cache"))
        result = fit(recipe, data, ctx=init_distributed())
        merged = merge_checkpoint(result.output / "last.pt", out=out / "merged.safetensors").out
    return merged, out / "cache"


def _write_video(path: Path, colour, seed: int, frames: int = 12) -> Path:
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if path.suffix == ".mp4" else "mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for image in _frames(colour, rng, frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_predict_ranks_the_trained_class_first(trained, tmp_path, monkeypatch):
    merged, cache = trained
    monkeypatch.setenv("MOTE_CACHE", str(cache))
    (tmp_path / "clips" / "more").mkdir(parents=True)
    truth = {}
    for i, name in enumerate(NAMES):
        folder = tmp_path / "clips" / ("more" if i == 2 else "")
        truth[str(_write_video(folder / f"{i}.mp4", COLOURS[name], seed=100 + i))] = name
    truth[str(_write_video(tmp_path / "single.avi", COLOURS["green grass"], seed=7))] = "green grass"
    (tmp_path / "clips" / "broken.mp4").write_bytes(b"not a video")
    (tmp_path / "labels.txt").write_text("\n".join(NAMES))
    args = ["predict", str(tmp_path / "clips"), str(tmp_path / "*.avi"), str(tmp_path / "nothing-*.mp4"),
            "--labels", str(tmp_path / "labels.txt"), "--checkpoint", str(merged), "--json", "--top-k", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    got = {v["path"]: v["top"][0]["name"] for v in report["videos"]}
    assert got == truth
    assert all(len(v["top"]) == 2 and v["top"][0]["probability"] >= v["top"][1]["probability"] for v in report["videos"])
    unreadable = {Path(u["path"]).name: u["reason"] for u in report["unreadable"]}
    assert set(unreadable) == {"broken.mp4", "nothing-*.mp4"}
    assert report["modulation"] is True and report["views"] == 3


def _probabilities(merged, video, classes, *flags):
    result = CliRunner().invoke(app, ["predict", str(video), "--classes", classes, "--checkpoint", str(merged),
                                      "--json", "--top-k", "9", *flags])
    assert result.exit_code == 0, result.output
    return {t["name"]: t["probability"] for t in json.loads(result.stdout)["videos"][0]["top"]}


def test_predict_modulates_as_eval(trained, tmp_path, monkeypatch):
    """Modulation scales the temporal head by how close the classes are to the fine-tuning
    ones: the trained classes leave alpha ~ 1, new classes change the probabilities."""
    merged, cache = trained
    monkeypatch.setenv("MOTE_CACHE", str(cache))
    video = _write_video(tmp_path / "v.mp4", COLOURS["red paint"], seed=5)
    trained_on, unseen = ",".join(NAMES), "orange fruit,purple flower,yellow sun"
    a, b = _probabilities(merged, video, trained_on), _probabilities(merged, video, trained_on, "--no-modulation")
    c, d = _probabilities(merged, video, unseen), _probabilities(merged, video, unseen, "--no-modulation")
    assert max(abs(a[n] - b[n]) for n in a) < 1e-5 < 1e-4 < max(abs(c[n] - d[n]) for n in c)


def test_predict_table_and_class_sources(trained, tmp_path, monkeypatch):
    merged, cache = trained
    monkeypatch.setenv("MOTE_CACHE", str(cache))
    video = _write_video(tmp_path / "v.mp4", COLOURS["blue sky"], seed=3)
    result = CliRunner().invoke(app, ["predict", str(video), "--classes", ",".join(NAMES), "--checkpoint", str(merged),
                                      "--no-modulation"])
    assert result.exit_code == 0, result.output
    assert "blue sky (" in result.stdout and "decord" in result.stdout
    both = CliRunner().invoke(app, ["predict", str(video), "--classes", "a,b", "--labels", "x.txt",
                                    "--checkpoint", str(merged)])
    assert both.exit_code != 0 and "name the classes once" in both.stderr
    none = CliRunner().invoke(app, ["predict", str(tmp_path / "none*.mp4"), "--classes", "a,b", "--checkpoint", str(merged)])
    assert none.exit_code != 0 and "no videos found" in none.stderr
