"""`mote cache list` and `mote cache clear` on a cache root holding a text cache, the frame
caches of two checkpoints (one with a head cache) and a frame store."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from mote_builders import save_train_checkpoint, tiny_model, tiny_text
from motecli.cli_app import app
from motecli.hashing import checkpoint_id

runner = CliRunner()


def merged_with_other_image_encoder(tmp: Path, class_names: list[str]) -> Path:
    """A second merged model whose image encoder differs (frame caches are keyed by it)."""
    import torch

    from motecli.merge.merge import merge_checkpoint

    model, config = tiny_model(seed=1)
    with torch.no_grad():
        for p in model.visual.parameters():
            p.add_(0.01)
    ckpt = save_train_checkpoint(tmp / "other-train.pt", model, config, class_names, tiny_text(class_names))
    return merge_checkpoint(ckpt, out=tmp / "other.safetensors").out


def du(path: Path) -> int:
    """Bytes on disk, independently of the scanner: every regular file, links not followed."""
    if path.is_file():
        return path.stat().st_size
    return sum(os.lstat(p).st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


@pytest.fixture(scope="module")
def populated(tmp_path_factory, synth, merged):
    """A cache root with one cache of each kind the issue names; built once, copied per test."""
    from motecli.cache.encode import encode_frames
    from motecli.cache.heads import fill_head_cache, open_head_cache
    from motecli.checkpoints.merged import load_head
    from motecli.cache.source import resolve_source
    from motecli.data.registry import load_dataset_split
    from motecli.decode.runner import decode_to_store
    from motecli.decode.shard import StoreSettings

    base = tmp_path_factory.mktemp("populated")
    root = base / "cache"
    other = merged_with_other_image_encoder(base, synth.class_names)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTE_CACHE", str(root))
        tiny_text(["open door", "close door"])
        source = resolve_source(dataset="synth", split=1, config=synth.config)
        for checkpoint in (merged, other):
            frames = encode_frames(source, checkpoint=checkpoint, num_frames=4, clips=1, crops=1, shard_size=4).cache.cache
        head, _, _ = load_head(other)
        fill_head_cache(frames, open_head_cache(frames, checkpoint=other), head, keys=source.video_keys())
        videos = load_dataset_split("synth", 1, "test", config_path=synth.config)
        decode_to_store(videos, root / "frames" / "synth-split1-test",
                        settings=StoreSettings(max_frames=8, shard_size=4, format="raw"), workers=1, progress=False)
    return root, merged, other


@pytest.fixture
def root(populated, tmp_path, monkeypatch):
    src, a, b = populated
    dst = tmp_path / "cache"
    shutil.copytree(src, dst, symlinks=True)
    monkeypatch.setenv("MOTE_CACHE", str(dst))
    return dst


def listing(*args) -> list[dict]:
    """The caches listed, without the bookkeeping files (hashes.json) that always sit there."""
    result = runner.invoke(app, ["cache", "list", "--json", *args])
    assert result.exit_code == 0, result.output
    return [e for e in json.loads(result.stdout)["entries"] if e["kind"] != "state"]


KINDS = ["frame-embeddings", "frame-embeddings", "frame-store", "head-cache", "text"]


def test_list_shows_every_cache_with_kind_owner_and_size(root, populated):
    _, a, b = populated
    entries = listing()
    kinds = sorted(e["kind"] for e in entries)
    assert kinds == KINDS, entries
    for e in entries:
        heads = Path(e["path"]) / "heads"  # listed on their own, below their frame cache
        assert e["size"] == du(Path(e["path"])) - (du(heads) if heads.is_dir() else 0) and e["size"] > 0, e
        # Frame-embedding and head caches grow with each list: they have no notion of complete.
        assert e["complete"] is (None if e["kind"] in ("frame-embeddings", "head-cache") else True), e
    frames = [e for e in entries if e["kind"] == "frame-embeddings"]
    owners = {e["owner"]["checkpoint"]["id"]: e["owner"] for e in frames}
    assert set(owners) == {checkpoint_id(a), checkpoint_id(b)}
    assert Path(owners[checkpoint_id(a)]["checkpoint"]["path"]).resolve() == a.resolve()
    assert all(o["dataset"] == "synth" and o["model"] == "mote-tiny" and o["settings"]["num_frames"] == 4
               for o in owners.values())
    assert owners[checkpoint_id(b)]["head_caches"] == 1 and owners[checkpoint_id(a)].get("head_caches", 0) == 0
    head = next(e for e in entries if e["kind"] == "head-cache")
    assert head["owner"]["checkpoint"]["id"] == checkpoint_id(b) and head["owner"]["dataset"] == "synth"
    assert Path(head["path"]).parent.parent == Path(next(e["path"] for e in frames
                                                          if e["owner"]["checkpoint"]["id"] == checkpoint_id(b)))
    store = next(e for e in entries if e["kind"] == "frame-store")
    assert "synth split 1 test" in store["owner"]["source"] and store["owner"]["videos"] == 8
    text = next(e for e in entries if e["kind"] == "text")
    assert text["owner"]["model"] == "mote-tiny" and text["owner"]["classes"] == 2


def test_listing_reads_no_tensors(root):
    """Shards replaced by garbage of the same name: the listing must not notice."""
    for shard in root.rglob("shard-*.h5"):
        shard.write_bytes(b"not hdf5")
    assert len(listing()) == len(KINDS)


def test_clear_checkpoint_removes_only_its_caches(root, populated):
    _, a, b = populated
    result = runner.invoke(app, ["cache", "clear", "--checkpoint", str(a), "--yes"])
    assert result.exit_code == 0, result.output
    left = listing()
    assert sorted(e["kind"] for e in left) == ["frame-embeddings", "frame-store", "head-cache", "text"]
    assert next(e for e in left if e["kind"] == "frame-embeddings")["owner"]["checkpoint"]["id"] == checkpoint_id(b)
    # By id prefix too; the head cache goes with its frame cache.
    result = runner.invoke(app, ["cache", "clear", "--checkpoint", checkpoint_id(b)[:8], "--yes"])
    assert result.exit_code == 0, result.output
    assert sorted(e["kind"] for e in listing()) == ["frame-store", "text"]


def test_clear_head_caches_keeps_the_frame_caches(root):
    result = runner.invoke(app, ["cache", "clear", "--kind", "head-cache", "--yes"])
    assert result.exit_code == 0, result.output
    assert sorted(e["kind"] for e in listing()) == ["frame-embeddings", "frame-embeddings", "frame-store", "text"]


def test_dry_run_removes_nothing_and_reports_the_space(root):
    before = {p: p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.name.endswith("last-used")}
    result = runner.invoke(app, ["cache", "clear", "--kind", "frame-embeddings", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run: 2 caches" in result.stdout and "nothing removed" in result.stdout
    after = {p: p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.name.endswith("last-used")}
    assert after == before


def test_clear_without_yes_off_a_terminal_refuses(root):
    before = sorted(e["path"] for e in listing())
    result = runner.invoke(app, ["cache", "clear", "--kind", "text"])
    assert result.exit_code == 1
    assert "not on a terminal: pass --yes" in result.stderr
    assert sorted(e["path"] for e in listing()) == before


def test_symlinks_out_of_the_root_are_not_followed(root, tmp_path):
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "precious.bin").write_bytes(b"x" * 1000)
    frames = sorted((root / "frames" / "embeddings").iterdir())
    os.symlink(outside / "keep", frames[0] / "link-out")  # inside a cache that is removed
    os.symlink(outside, root / "frames" / "embeddings" / "linked-cache")  # a cache folder that is a link
    entries = {Path(e["path"]).name: e for e in listing()}
    assert entries["linked-cache"]["size"] < 1000  # the link, not what it points to
    result = runner.invoke(app, ["cache", "clear", "--all", "--yes"])
    assert result.exit_code == 0, result.output
    assert (outside / "keep" / "precious.bin").read_bytes() == b"x" * 1000
    assert not (root / "frames" / "embeddings" / "linked-cache").exists()
    assert listing() == []


def test_a_cache_being_written_is_kept(root):
    frames = sorted((root / "frames" / "embeddings").iterdir())
    (frames[0] / f".writing-{os.getpid()}").touch()  # this (live) process is "writing" it
    (frames[1] / ".writing-999999999").touch()  # a dead writer's mark counts for nothing
    result = runner.invoke(app, ["cache", "clear", "--kind", "frame-embeddings", "--yes"])
    assert result.exit_code == 0, result.output
    assert frames[0].is_dir() and not frames[1].exists()
    assert f"being written by pid {os.getpid()}" in result.stderr


def test_unused_for_and_incomplete(root):
    text = next(e for e in listing() if e["kind"] == "text")
    old = 40 * 86400
    for p in (Path(text["path"]), Path(text["path"]).with_name(f".{Path(text['path']).name}.last-used")):
        if p.exists():
            os.utime(p, (p.stat().st_atime - old, p.stat().st_mtime - old))
    shard = next(root.glob("frames/synth-split1-test/shard-*.h5"))
    shard.unlink()  # the store is now incomplete
    result = runner.invoke(app, ["cache", "clear", "--unused-for", "30d", "--yes"])
    assert result.exit_code == 0, result.output
    assert sorted(e["kind"] for e in listing()) == ["frame-embeddings", "frame-embeddings", "frame-store", "head-cache"]
    result = runner.invoke(app, ["cache", "clear", "--incomplete", "--yes"])
    assert result.exit_code == 0, result.output
    assert sorted(e["kind"] for e in listing()) == ["frame-embeddings", "frame-embeddings", "head-cache"]


def test_reading_a_cache_records_its_last_use(root, synth, populated):
    from motecli.cache.encode import encode_frames
    from motecli.cache.source import resolve_source

    _, a, _ = populated
    entry = next(e for e in listing() if e["kind"] == "frame-embeddings" and e["owner"]["checkpoint"]["id"] == checkpoint_id(a))
    path = Path(entry["path"])
    for p in [*path.iterdir(), path]:
        os.utime(p, (0, 0))
    assert next(e for e in listing() if e["path"] == entry["path"])["last_used"] < 1000
    source = resolve_source(dataset="synth", split=1, config=synth.config)
    split = encode_frames(source, checkpoint=a, num_frames=4, clips=1, crops=1, shard_size=4).cache  # all cached
    list(split.iter_chunks())
    assert next(e for e in listing() if e["path"] == entry["path"])["last_used"] > 1e9


@pytest.mark.parametrize("args, message", [
    (["--unused-for", "soon"], "--unused-for 'soon': expected a number and a unit"),
    (["--checkpoint", "not-a-file"], "--checkpoint not-a-file: no such file, and not a checkpoint id"),
    ([], "name what to clear"),
])
def test_bad_clear_arguments_are_one_line_errors(root, args, message):
    from cli_asserts import assert_one_line_error

    assert_one_line_error(runner.invoke(app, ["cache", "clear", *args]), message)


def test_pretrained_weights_are_listed_and_cleared_with_their_sidecar(root):
    folder = root / "pretrained"
    folder.mkdir()
    weights = folder / "mote-tiny-world-0123456789abcdef.safetensors"
    weights.write_bytes(b"w" * 1000)
    weights.with_name(weights.name + ".json").write_text("{}")
    entries = [e for e in listing() if e["kind"] == "pretrained"]
    assert len(entries) == 1 and entries[0]["size"] == 1002 and entries[0]["complete"]
    assert "other" not in {e["kind"] for e in listing()}
    result = runner.invoke(app, ["cache", "clear", "--kind", "pretrained", "--yes"])
    assert result.exit_code == 0, result.output
    assert not list(folder.iterdir()) and sorted(e["kind"] for e in listing()) == KINDS
