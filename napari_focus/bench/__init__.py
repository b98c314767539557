"""The benchmark (`napari-focus bench`): FOCUS against Grad-CAM, gradient × input, a
Prompt-CAM-style model and chemometrics on simulated leaves whose truth is known, and its cost.

`config` (presets), `cells` (the JSON cache), `runs` (simulate, train through the recipe, evaluate),
`baselines` (leaf-mean models, random floor), `sanity` (model randomisation), `cost` (latency and
memory), `run` (collect the tables' cells), `tables` (markdown), `cli` (the subcommand).
"""
