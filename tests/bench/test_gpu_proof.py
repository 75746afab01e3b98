"""benchmarks/gpu_proof.py runs end to end with tiny shapes on the CPU: every part (train
step variants, encoder, demo, encode-frames + eval, torchrun) succeeds and reports."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_proof_runs_with_tiny_shapes(tmp_path):
    out = tmp_path / "proof.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_proof.py"), "--tiny", "--out", str(out),
                           "--workdir", str(tmp_path / "work")], env=env, capture_output=True, text=True, timeout=600)
    report = json.loads(out.read_text())
    failed = {k: v.get("error") for k, v in report["parts"].items() if not v["ok"]}
    assert proc.returncode == 0 and not failed, (failed, proc.stderr[-2000:])
    assert report["mode"] == "tiny" and report["env"]["device"] == "cpu"
    p = report["parts"]
    steps = p["train_step"]
    for variant in ("mote bf16 eager", "mote bf16 compiled", "release fp16"):
        assert steps[variant]["clips_per_s"] > 0
    assert steps["release fp16"]["precision"] == "fp16" and steps["mote bf16 eager"]["precision"] == "bf16"
    assert not steps["mote bf16 eager"]["fused_adamw"]  # CPU: the plain AdamW
    assert all(p["encoder"][v]["frames_per_s"] > 0 for v in ("fp32 (TF32)", "bf16", "bf16 NCHW", "bf16 compiled"))
    assert p["encoder"]["gflop_per_frame"] > 0
    assert any("zero-shot" in row for row in p["demo"]["rows"])
    enc = p["encode_eval"]
    assert enc["videos_listed"] == 16 and enc["encoder_s"] > 0 and enc["decode_only"]["videos"] == 16
    # The eval of part 4 wrote a results file over every listed video.
    results = json.loads(next((tmp_path / "work" / "results").glob("*.json")).read_text())
    assert results["runs"][0]["splits"][0]["videos"] == 16
    assert p["torchrun"]["world_size"] == 1 and p["torchrun"]["clips_per_s"] > 0
    # The table names every part.
    for marker in ("1 train step", "2 encoder", "3 mote demo", "4 encode-frames", "5 torchrun"):
        assert marker in proc.stdout


def test_cuda_machine_without_the_video_stack_gets_the_wheels_to_install(monkeypatch, capsys, tmp_path):
    import importlib.util

    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_proof
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    real_find = importlib.util.find_spec
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("decord", "av", "open_clip") else real_find(name, *a))
    monkeypatch.setattr(sys, "argv", ["gpu_proof.py", "--out", str(tmp_path / "p.json")])
    assert gpu_proof.main() == 2
    assert "pip install open_clip_torch decord av" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()  # stopped before running anything
