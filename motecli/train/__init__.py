"""`mote train`: recipes, the training loop, checkpoints, schedule, distributed setup.

Modules (one concept each): `recipe` (TOML -> typed dataclasses), `schedule`
(warm-up + cosine), `precision`, `distributed` (torchrun), `data` (the only
coupling to `motecli.data`), `rundir` (the output folder: last.pt, best.pt,
refusing to overwrite a run; torch-free), `progress` (console and
metrics.jsonl), `loop` (`train(recipe)`, `fit`). The checkpoint format is
`motecli.checkpoints.training`.
Importing this package does not import torch; import the modules you need.
"""
