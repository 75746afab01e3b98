"""mote merge: uniform collapse, the authors' release format, patching, errors."""

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from mote_builders import mote_env, save_release_checkpoint, save_train_checkpoint, tiny_model, tiny_text
from motecli.atomic import process_alive
from motecli.cli_app import app
from motecli.errors import MoteError
from motecli.checkpoints.merged import load_merged, read_merged_tensors
from motecli.merge.merge import merge_checkpoint
from motecli.model.clip import build_clip, resolve_clip
from motecli.model.temporal import head_parameter_count
from motecli.model.scoring import cosine_scores

REPO = Path(__file__).resolve().parents[2]
NAMES = ["a cat jumping", "a dog running", "a bird flying"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model, config = tiny_model(seed=1)
    text = tiny_text(NAMES)
    path = save_train_checkpoint(tmp_path_factory.mktemp("train") / "ckpt.pt", model, config, NAMES, text)
    return model, config, text, path


def frames(seed=0):
    return torch.randn(2, 8, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def eval_scores(model, text, x):
    """Evaluation logits: cosine of the video embedding with the classes."""
    with torch.no_grad():
        _, v = model.video_features(model.encode_frames(x))
    return cosine_scores(v, text)


def test_merged_model_gives_the_unmerged_logits(trained, tmp_path):
    model, _, text, path = trained
    report = merge_checkpoint(path, out=tmp_path / "m.safetensors")
    merged, meta = load_merged(report.out)
    x = frames()
    assert torch.allclose(eval_scores(merged, text, x), eval_scores(model, text, x), atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(merged(x, text), model(x, text), atol=1e-5)
    assert merged.head.config.num_experts == 1
    assert report.head_params_before == head_parameter_count(model.head)
    assert report.head_params_after == head_parameter_count(model.head.collapsed())
    assert meta["class_names"] == NAMES


def test_merged_file_keeps_deployment_state_only(trained, tmp_path):
    model, _, text, path = trained
    out = merge_checkpoint(path, out=tmp_path / "m.safetensors").out
    tensors = read_merged_tensors(out)
    assert {k.split(".")[0] for k in tensors} == {"visual", "head", "logit_scale", "class_embeddings"}
    assert torch.equal(tensors["class_embeddings"], text)
    assert torch.equal(tensors["logit_scale"], model.logit_scale.detach())
    sidecar = json.loads((tmp_path / "m.safetensors.json").read_text())
    assert sidecar["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar["source"]["recipe"] == {"name": "test"}
    assert "optimizer" not in sidecar


def test_pt_output_loads_weights_only(trained, tmp_path):
    model, _, text, path = trained
    out = merge_checkpoint(path, out=tmp_path / "m.pt").out
    torch.load(out, weights_only=True)
    merged, _ = load_merged(out)
    x = frames(1)
    assert torch.allclose(eval_scores(merged, text, x), eval_scores(model, text, x), atol=1e-5)


def test_release_format_merges_like_our_model(trained, tmp_path):
    model, _, text, _ = trained
    release = save_release_checkpoint(tmp_path / "MoTE_tiny.pt", model, text)
    ours = load_merged(merge_checkpoint(trained[3], out=tmp_path / "ours.safetensors").out)[0]
    report = merge_checkpoint(release, out=tmp_path / "rel.safetensors", model="mote-tiny", class_names=NAMES)
    theirs, meta = load_merged(report.out)
    x = frames(2)
    assert torch.allclose(eval_scores(theirs, text, x), eval_scores(ours, text, x), atol=1e-6)
    assert torch.allclose(eval_scores(theirs, text, x), eval_scores(model, text, x), atol=1e-5)
    assert meta["source"]["format"] == "mote-release"
    assert meta["clip"]["quick_gelu"] is True
    assert torch.equal(read_merged_tensors(report.out)["class_embeddings"], text)


def test_release_format_needs_matching_labels(trained, tmp_path):
    model, _, text, _ = trained
    release = save_release_checkpoint(tmp_path / "rel.pt", model, text)
    with pytest.raises(MoteError, match="--labels"):
        merge_checkpoint(release, out=tmp_path / "x.safetensors", model="mote-tiny")
    with pytest.raises(MoteError, match="3 classes"):
        merge_checkpoint(release, out=tmp_path / "x.safetensors", model="mote-tiny", class_names=NAMES[:2])


def test_patch_alpha_mixes_image_encoder(trained, tmp_path):
    model, config, text, _ = trained
    with torch.no_grad():  # a "fine-tuned" encoder that differs from the original weights
        tuned = {k: v + 0.1 * torch.randn_like(v) if v.is_floating_point() else v
                 for k, v in model.visual.state_dict().items()}
    model.visual.load_state_dict(tuned)
    path = save_train_checkpoint(tmp_path / "tuned.pt", model, config, NAMES, text)
    merged, meta = load_merged(merge_checkpoint(path, out=tmp_path / "p.safetensors", patch_alpha=0.9,
                                                original="none").out)
    original = build_clip(resolve_clip("mote-tiny", "none"), need_text=False).visual.state_dict()
    got = merged.visual.state_dict()
    for key in ("conv1.weight", "proj", "transformer.resblocks.0.mlp.c_fc.weight"):
        assert torch.allclose(got[key], 0.9 * tuned[key] + 0.1 * original[key], atol=1e-6)
    assert meta["patch"]["alpha"] == 0.9


def run_cli(args, cache):
    return subprocess.run([sys.executable, "-m", "motecli", *args], capture_output=True, text=True,
                          env=mote_env(cache), timeout=120)


def test_cli_rejects_a_file_that_is_not_mote(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    for path in (plain, junk):
        proc = run_cli(["merge", str(path), "--out", str(tmp_path / "m.safetensors")], tmp_path / "cache")
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mote: error:") and str(path) in lines[0]
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_cli_prints_head_parameters_before_and_after(trained, tmp_path):
    model, _, _, path = trained
    proc = run_cli(["merge", str(path), "--out", str(tmp_path / "m.safetensors")], tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert f"{head_parameter_count(model.head):,}" in out
    assert f"{head_parameter_count(model.head.collapsed()):,}" in out


def test_collapsed_ffn_is_the_expert_average(trained, tmp_path):
    model, _, _, path = trained
    merged, _ = load_merged(merge_checkpoint(path, out=tmp_path / "m.safetensors").out)
    for block, src in zip(merged.head.blocks, model.head.blocks):
        mean_up = torch.stack([l.weight for l in src.mlp.fc_up]).mean(0)
        assert torch.allclose(block.mlp.fc_up[0].weight, mean_up, atol=1e-7)
        mean_dn_bias = torch.stack([l.bias for l in src.mlp.fc_dn]).mean(0)
        assert torch.allclose(block.mlp.fc_dn[0].bias, mean_dn_bias, atol=1e-7)


def _visual_shapes(width: int, blocks: int) -> dict:
    """Just enough of an image encoder state for the shape inference (no real weights)."""
    state = {"proj": torch.empty(width, 8)}
    state |= {f"transformer.resblocks.{i}.ln_1.weight": torch.empty(0) for i in range(blocks)}
    return state


def test_release_model_is_inferred_from_the_shapes(tmp_path):
    from motecli.checkpoints.source import infer_release_model

    assert infer_release_model(tmp_path, _visual_shapes(768, 12)) == "ViT-B-16"
    assert infer_release_model(tmp_path, _visual_shapes(1024, 24)) == "ViT-L-14"
    with pytest.raises(MoteError, match="width 768 with 11 blocks is not ViT-B-16 or ViT-L-14; pass --model"):
        infer_release_model(tmp_path, _visual_shapes(768, 11))
    with pytest.raises(MoteError, match="no visual.proj"):
        infer_release_model(tmp_path, {})


def test_release_checkpoint_merges_without_model(trained, tmp_path, monkeypatch):
    """The README's `mote merge MoTE_B16.pt --labels ... --out ...`: no --model, the shapes name it.
    The tiny model stands in for ViT-B-16 in the table of release models."""
    from typer.testing import CliRunner

    import motecli.cli  # noqa: F401
    from motecli.checkpoints import source
    from motecli.cli_app import app

    model, _, text, _ = trained
    width, blocks = model.visual.proj.shape[0], len(model.visual.transformer.resblocks)
    monkeypatch.setattr(source, "RELEASE_MODELS", {(width, blocks): "mote-tiny"})
    release = save_release_checkpoint(tmp_path / "MoTE_tiny.pt", model, text)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{n}\n" for n in NAMES))
    result = CliRunner().invoke(app, ["merge", str(release), "--labels", str(labels), "--out", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 0, result.output
    assert "model mote-tiny" in " ".join(result.stdout.split()) and "source mote-release" in " ".join(result.stdout.split())
    merged, meta = load_merged(tmp_path / "m.safetensors")
    assert meta["clip"]["model"] == "mote-tiny" and meta["class_names"] == NAMES
    x = frames(3)
    assert torch.allclose(eval_scores(merged, text, x), eval_scores(model, text, x), atol=1e-5)


# A `mote merge` SIGKILLed after writing its .safetensors temporary in full, before the rename.
KILLED_MERGE = """
import os, signal, sys
import safetensors.torch
from motecli.merge.merge import merge_checkpoint
real_save = safetensors.torch.save_file

def save_file(tensors, filename, metadata=None):
    real_save(tensors, filename, metadata=metadata)
    os.kill(os.getpid(), signal.SIGKILL)

safetensors.torch.save_file = save_file
merge_checkpoint(sys.argv[1], out=sys.argv[2])
"""


def test_next_merge_removes_the_temporaries_of_killed_merges_only(trained, tmp_path):
    """Issue 10 item 3: a killed merge's `.NAME.tmp-PID` is removed by the next merge to the
    same output; a live writer's temporary and another output's are left alone."""
    _, _, _, path = trained
    out = tmp_path / "m.safetensors"
    proc = subprocess.run([sys.executable, "-c", KILLED_MERGE, str(path), str(out)], cwd=REPO, capture_output=True,
                          text=True, env=dict(mote_env(tmp_path / "cache"), PYTHONPATH=str(REPO)), timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (dead,) = tmp_path.glob(".m.safetensors.tmp-*")  # the full-size temporary the kill stranded
    pid = int(dead.name.rsplit("-", 1)[1])
    assert not process_alive(pid) and dead.stat().st_size > 0 and not out.exists()
    dead_sidecar = tmp_path / f".m.safetensors.json.tmp-{pid}"
    dead_sidecar.write_text("{")  # as if killed while writing the sidecar
    other = tmp_path / dead.name.replace(".m.", ".other.")  # a dead writer of another output: not this merge's
    other.write_bytes(b"x")
    live = subprocess.Popen(["sleep", "60"])
    try:
        live_tmps = [tmp_path / f".m.safetensors.tmp-{live.pid}", tmp_path / f".m.safetensors.json.tmp-{live.pid}"]
        for tmp in live_tmps:
            tmp.write_bytes(b"being written")
        result = CliRunner().invoke(app, ["merge", str(path), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert process_alive(live.pid) and all(tmp.read_bytes() == b"being written" for tmp in live_tmps)
    finally:
        live.kill()
        live.wait()
    assert not dead.exists() and not dead_sidecar.exists() and other.exists()
    assert load_merged(out)[1]["class_names"] == NAMES
