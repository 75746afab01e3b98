"""`mote few-shot`: the paper's few-shot protocol as one resumable grid over (K, seed).

plan.py    what a grid is: its folder, identity (grid.json), lists and cells; the recipes
stages.py  one cell's work: train + merge (or the head-only proxy), then evaluate
grid.py    the loop over cells under one process group, progress, the final table
"""
