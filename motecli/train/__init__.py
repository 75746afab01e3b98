"""`mote train`: recipes, the training loop, checkpoints, schedule, distributed setup.

Modules (one concept each): `recipe` (TOML -> typed dataclasses), `schedule`
(warm-up + cosine), `precision`, `distributed` (torchrun), `data` (the only
coupling to `motecli.data`), `checkpoint` (last.pt / best.pt), `progress`
(console and metrics.jsonl), `loop` (`train(recipe)`, `fit`).
Importing this package does not import torch; import the modules you need.
"""
