"""Notebook 04: black-box adaptation (set-up, families, sweeps, figures, the Lake runs)."""
