"""Run under torchrun by test_distributed.py: train on the in-memory clips, then dump
a hash of every parameter and buffer of this rank's model to <dump>/rank<R>.txt."""

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motecli.train.loop import fit  # noqa: E402
from motecli.train.distributed import init_distributed, shutdown_distributed  # noqa: E402
from motecli.train.recipe import recipe_from_dict  # noqa: E402
from train.clips import squares_data, tiny_recipe_dict  # noqa: E402


def main(output: str, dump: str) -> None:
    ctx = init_distributed()
    recipe = recipe_from_dict(tiny_recipe_dict(output, solver={"epochs": 2, "accumulation": 2}))
    data = squares_data(16, 6)
    result = fit(recipe, data, ctx=ctx)
    lines = []
    for key, value in sorted(result.model.state_dict().items()):
        digest = hashlib.sha256(value.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        lines.append(f"{key} {digest}")
    history = result.history[-1]
    lines.append(f"metrics {history['loss']!r} {history['train_top1']!r} {history['val_top1']!r} {history['val_clips']}")
    Path(dump, f"rank{ctx.rank}.txt").write_text("\n".join(lines) + "\n")
    shutdown_distributed(ctx)


if __name__ == "__main__":
    main(*sys.argv[1:3])
