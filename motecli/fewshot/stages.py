"""One cell of a few-shot grid: a model from its K-shot list, then the test split.

Full (the paper's protocol): `mote train` with the cell's recipe (resumed from the
cell's last.pt when a run was killed), `mote merge` of the final epoch's checkpoint.
Head-only (the fast proxy): the temporal head of a starting merged model trained on
cached features of the list's videos (`eval.fewshot.fit_head`), written as a merged
model of its own. Either way the merged file is evaluated like `mote eval --protocol
close-set --views 1x1 --no-modulation` (modulation is the identity when the test
classes are the fine-tuning classes, method section 4), and the results file carries
a `few_shot` block saying which grid, K, seed and mode it is.

Under torchrun every rank trains and encodes its shards of the test set; rank 0
alone merges, scores and writes, between barriers.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..atomic import atomic_path
from ..constants import TFM_K
from ..hashing import file_sha256
from .plan import Cell, Grid, cell_recipe

log = logging.getLogger("mote")


def train_and_merge(grid: Grid, cell: Cell, *, ctx) -> None:
    """Fine-tune CLIP + MoTE on the cell's list (resuming its run), merge the last epoch."""
    import torch

    from ..merge.merge import merge_checkpoint
    from ..train.distributed import barrier
    from ..train.loop import train
    from ..train.rundir import LAST

    result = train(cell_recipe(grid, cell), resume="auto", ctx=ctx)
    del result  # the model: free its memory before the next cell
    if ctx.device.type == "cuda":
        torch.cuda.empty_cache()
    if ctx.is_main:
        merge_checkpoint(cell.run_dir / LAST, out=cell.merged)
    barrier(ctx)


def initial_model(grid: Grid, out: Path) -> Path:
    """The head-only proxy's default start: the recipe's CLIP weights and a freshly
    initialised head (seed run.seed), as a merged model, i.e. where full fine-tuning starts."""
    import torch

    from ..checkpoints.training import FORMAT, FORMAT_VERSION, save_training_checkpoint
    from ..merge.merge import merge_checkpoint
    from ..model.clip import resolve_clip
    from ..model.video_clip import VideoModelConfig
    from ..text.encode import cached_text_embeddings
    from ..text.labels import read_templates_file
    from ..train.loop import build_model

    if out.is_file():
        return out
    recipe = grid.spec.recipe
    m = recipe.model
    spec = resolve_clip(m.name, m.pretrained, quick_gelu=m.quick_gelu)
    config = VideoModelConfig.for_clip(spec, layers=m.layers, num_experts=m.experts, num_frames=m.num_frames)
    model = build_model(spec, config, seed=recipe.run.seed, grad_checkpointing=False, device=torch.device("cpu"))
    names = list(grid.train.videos.class_names)
    text = cached_text_embeddings(model=spec.model, pretrained=m.pretrained, quick_gelu=m.quick_gelu, class_names=names,
                                  templates=read_templates_file(recipe.data.templates_file))
    state = dict(format=FORMAT, format_version=FORMAT_VERSION, model_config=config.to_dict(),
                 clip=dict(model=spec.model, pretrained=spec.pretrained, quick_gelu=spec.quick_gelu,
                           weights_id=spec.weights_id),
                 model=model.state_dict(), optimizer={}, scheduler={}, scaler={}, epoch=0, step=0, rng={},
                 recipe=recipe.to_dict(), class_names=names,
                 class_embeddings=torch.as_tensor(text.embeddings.embeddings).float(), best_top1=None)
    initial = save_training_checkpoint(out.with_name("initial.pt"), state)
    return merge_checkpoint(initial, out=out).out


def head_only_model(grid: Grid, cell: Cell, *, start: Path, device: str) -> None:
    """Train the start model's head on the cell's list (cached features), save it merged."""
    from ..cache.source import resolve_source
    from ..checkpoints.merged import read_merged_metadata, read_merged_tensors
    from ..eval.fewshot import fit_head
    from ..merge.merge import write_merged
    from ..text.labels import read_templates_file

    recipe = grid.spec.recipe
    k_shot = resolve_source(list_file=cell.list_file, labels=grid.labels_file, root=grid.train.videos.root)
    fit = fit_head(train=k_shot, checkpoint=start, num_frames=recipe.model.num_frames, epochs=recipe.solver.epochs,
                   seed=recipe.run.seed + cell.seed, templates=read_templates_file(recipe.data.templates_file),
                   batch_size=grid.spec.eval_batch_size, workers=recipe.data.workers, device=device)
    tensors = {k: v for k, v in read_merged_tensors(start).items() if not k.startswith("head.")}
    tensors |= {f"head.{k}": v.detach().float().cpu().contiguous() for k, v in fit.head.state_dict().items()}
    meta = dict(read_merged_metadata(start), few_shot_head=dict(
        start=str(start), start_sha256=file_sha256(start), k=cell.k, seed=cell.seed, epochs=recipe.solver.epochs,
        list=str(cell.list_file), videos=fit.videos, lines=fit.lines, train_seconds=fit.seconds))
    write_merged(cell.merged, tensors, meta)


def encode_test(grid: Grid, cell: Cell, *, ctx) -> None:
    """Every rank encodes its shards of the test split's one-view frame cache."""
    from ..cache.encode import encode_frames
    from ..train.distributed import barrier

    encode_frames(grid.test, checkpoint=cell.merged, num_frames=grid.spec.recipe.model.num_frames, clips=1, crops=1,
                  batch_size=grid.spec.eval_batch_size, workers=grid.spec.recipe.data.workers, device=str(ctx.device),
                  rank=ctx.rank, world=ctx.world_size)
    barrier(ctx)


def few_shot_block(grid: Grid, cell: Cell) -> dict:
    """What a results file says about its cell (docs/evaluation.md, `few_shot`)."""
    spec, recipe = grid.spec, grid.spec.recipe
    list_meta = json.loads(cell.list_file.with_name(cell.list_file.name + ".json").read_text())
    start = grid.identity["start_checkpoint"]
    if spec.head_only and start is None:
        start = dict(name="the recipe's CLIP weights with a fresh head")
    return dict(
        grid=grid.grid_id, mode=spec.mode, k=cell.k, seed=cell.seed, benchmark=spec.benchmark, dataset=spec.dataset,
        split=spec.split, model=recipe.model.name, pretrained=recipe.model.pretrained,
        num_frames=recipe.model.num_frames,
        epochs=recipe.solver.epochs, training_seed=recipe.run.seed + cell.seed, recipe_file=str(spec.recipe_file),
        list=dict(path=str(cell.list_file), sha256=file_sha256(cell.list_file), videos=len(list_meta["drawn"]),
                  lines=list_meta["lines"]),
        train_list=grid.identity["train_list"], start_checkpoint=start if spec.head_only else None,
        grid_dir=str(spec.out_dir),
    )


def evaluate_cell(grid: Grid, cell: Cell, *, device: str, seconds: float) -> dict:
    """Score the test split with the cell's merged model (frame cache already filled),
    write the results file and then the cell's record; returns the record."""
    from ..eval.report import results_path, write_eval_results
    from ..eval.runner import EvalSettings, evaluate
    from ..text.labels import read_templates_file

    spec, recipe = grid.spec, grid.spec.recipe
    started = time.perf_counter()
    settings = EvalSettings(checkpoint=cell.merged, protocol="close-set", clips=1, crops=1,
                            num_frames=recipe.model.num_frames, modulation=False, scales=(), k=TFM_K,
                            templates=read_templates_file(recipe.data.templates_file),
                            batch_size=spec.eval_batch_size, workers=recipe.data.workers, device=device)
    name = f"{spec.dataset}-{cell.name}" + ("-head-only" if spec.head_only else "")
    results = evaluate([grid.test], settings, name=name, dataset=spec.dataset)
    results["settings"]["split"] = str(spec.split)
    results["few_shot"] = few_shot_block(grid, cell)
    path = results_path(grid.results_dir, results, str(spec.split))
    write_eval_results(path, results)
    split = results["runs"][0]["splits"][0]
    record = dict(k=cell.k, seed=cell.seed, mode=spec.mode, grid=grid.grid_id, top1=split["top1"],
                  videos=split["videos"], excluded=split["excluded"], results_file=str(path),
                  checkpoint=results["checkpoint"]["id"], seconds=seconds + time.perf_counter() - started)
    with atomic_path(cell.record) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    if spec.prune:
        for leftover in (cell.run_dir / "last.pt", cell.run_dir / "best.pt"):
            leftover.unlink(missing_ok=True)
    return record
