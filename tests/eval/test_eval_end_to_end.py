"""train (tiny, one epoch) -> merge -> encode-frames -> eval, all through the CLI."""

import json
import subprocess
import sys

from mote_builders import mote_env


def mote(args, env, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "motecli", *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_train_merge_encode_eval(tmp_path):
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "tiny.toml"
    env = mote_env(tmp_path / "cache")
    mote(["train", recipe, "--set", "solver.epochs=1", "--set", "solver.warmup_epochs=0",
          "--set", "data.synthetic_videos_per_class=3", "--set", "solver.total_batch=4",
          "-o", tmp_path / "run"], env)
    mote(["merge", tmp_path / "run" / "last.pt", "--out", tmp_path / "merged.safetensors"], env)
    (config,) = (tmp_path / "cache" / "synthetic").glob("*/datasets.toml")
    env["MOTE_DATASETS"] = str(config)
    env["MOTE_CHECKPOINT"] = str(tmp_path / "merged.safetensors")  # the documented default
    encoded = mote(["encode-frames", "--dataset", "synth", "--split", "1", "--protocol", "close-set"], env)
    said = " ".join(encoded.stdout.split())  # rich wraps long lines
    assert "; cache complete, " in said and "incomplete" not in said, said
    mote(["eval", "--dataset", "synth", "--split", "1", "--protocol", "close-set", "--results-dir", tmp_path / "res"], env)
    (path,) = (tmp_path / "res").glob("*.json")
    results = json.loads(path.read_text())
    split = results["runs"][0]["splits"][0]
    assert split["frame_cache"]["encoded_videos_now"] == 0  # encode-frames already filled it
    assert results["caches"]["frames"] == "hit"
    assert split["videos"] + split["excluded"] == split["listed_videos"]
    # The trained model straight from the videos predicts exactly what the cache does.
    mote(["eval", "--dataset", "synth", "--split", "1", "--protocol", "close-set", "--from-videos",
          "--results-dir", tmp_path / "res-videos"], env)
    (direct,) = (tmp_path / "res-videos").glob("*.json")
    direct_split = json.loads(direct.read_text())["runs"][0]["splits"][0]
    predictions = (tmp_path / "res" / results["detail_files"]["predictions"]).read_text()
    assert (direct.with_name(direct.stem + ".predictions.csv")).read_text() == predictions
    assert len(predictions.splitlines()) == 1 + split["videos"]
    assert direct_split["top1"] == split["top1"]
