"""Sweeps: many runs of one question (which learning rate? does batch size matter?), searched by grid, random
or Optuna's TPE, hopeless runs pruned, and what mattered. Sits on core.runs' JobRegistry: values (a
setting's values), space (the sweep and its caps), search (Optuna), runner (a sweep running), records
(kept in SQLite), live (the sweeps of this process), estimate (its time), importance (what mattered)."""
