"""Training-step throughput (clips/s) and peak memory of `mote train`'s step.

CPU (default): the tiny recipe's model (mote-tiny, recipes/tiny.toml shapes) on
in-memory frames, so the figure is the step itself, not video decoding.
Peak memory: resource.getrusage max RSS of the process.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_train.py

GPU (--gpu): ViT-B-16 random init, 8 frames, batch 48, three ways:
  bf16          bf16 autocast, eager (what `mote train` does on a bf16 GPU)
  bf16-compile  the same with the CLIP image encoder under torch.compile
  release-fp16  the authors' release: fp16 autocast + GradScaler, eager
Peak memory: torch.cuda.max_memory_allocated per variant.

    .venv/bin/python benchmarks/bench_train.py --gpu

Every figure is the median over --repeats timed windows of --steps steps, after
--warmup untimed steps; the step is the full MoTE step (routed + WMR pass, loss,
backward, AdamW with two learning rates).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motecli.model.clip import resolve_clip  # noqa: E402
from motecli.model.video_clip import VideoModelConfig  # noqa: E402
from motecli.train.loop import MoTEStep, build_model, build_optimizer, draw_routing  # noqa: E402
from motecli.model.runtime import Precision  # noqa: E402
from motecli.train.recipe import LossSection, load_recipe  # noqa: E402

TINY_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tiny.toml"


def bench(*, model_name: str, layers: int, num_frames: int, batch: int, device: torch.device, precision: str,
          compile_visual: bool, steps: int, warmup: int, repeats: int, num_classes: int = 400) -> dict:
    spec = resolve_clip(model_name, "none")
    config = VideoModelConfig.for_clip(spec, layers=layers, num_frames=num_frames)
    model = build_model(spec, config, seed=0, grad_checkpointing=False, device=device)
    if compile_visual:
        model.visual = torch.compile(model.visual)
    optimizer = build_optimizer(model, lr=5e-5, clip_lr_ratio=0.07, weight_decay=0.2, betas=(0.9, 0.999), eps=1e-8)
    prec = Precision(precision, device.type)
    scaler = prec.scaler()
    step = MoTEStep(model, loss_weights=LossSection())
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(batch, num_frames, 3, spec.image_size, spec.image_size, device=device)
    labels = torch.randint(0, num_classes, (batch,), generator=g).to(device)
    text = torch.nn.functional.normalize(torch.randn(num_classes, spec.embed_dim, generator=g), dim=-1).to(device)

    def one_step():
        indices, merge = draw_routing(num_blocks=config.layers, num_experts=config.num_experts, generator=g)
        with prec.autocast():
            loss, _, _ = step(frames, labels, text, expert_indices=indices, merge_weights=merge.to(device))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        one_step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            one_step()
        sync()
        rates.append(steps * batch / (time.perf_counter() - start))
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return dict(model=model_name, frames=num_frames, batch=batch, precision=precision, compile=compile_visual,
                clips_per_s_median=statistics.median(rates), clips_per_s_all=[round(r, 2) for r in rates],
                peak_memory_mib=round(peak / 2**20, 1), steps=steps, repeats=repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu", action="store_true", help="ViT-B-16 on CUDA: bf16, bf16 + compile, release-style fp16")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = dict(torch=torch.__version__, python=platform.python_version(), machine=platform.machine(),
               threads=torch.get_num_threads(), date=time.strftime("%Y-%m-%d"))
    if args.gpu:
        if not torch.cuda.is_available():
            raise SystemExit("--gpu needs a CUDA device")
        device = torch.device("cuda")
        env["gpu"] = torch.cuda.get_device_name()
        variants = [("bf16", False), ("bf16", True), ("fp16", False)]
        results = [bench(model_name="ViT-B-16", layers=4, num_frames=8, batch=48, device=device, precision=p,
                         compile_visual=c, steps=args.steps or 20, warmup=args.warmup or 5, repeats=args.repeats)
                   for p, c in variants]
        for r, name in zip(results, ("bf16", "bf16-compile", "release-fp16")):
            r["variant"] = name
    else:
        tiny = load_recipe(TINY_RECIPE)
        batch = tiny.solver.total_batch // tiny.solver.accumulation
        results = [bench(model_name=tiny.model.name, layers=tiny.model.layers, num_frames=tiny.model.num_frames,
                         batch=batch, device=torch.device("cpu"), precision="fp32", compile_visual=False,
                         steps=args.steps or 5, warmup=args.warmup or 2, repeats=args.repeats, num_classes=4)]
        results[0]["variant"] = "cpu-fp32"
    print(json.dumps(dict(env=env, results=results), indent=2))


if __name__ == "__main__":
    main()
