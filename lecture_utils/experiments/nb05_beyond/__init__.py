"""Notebook 05: black-box adaptation beyond classification (regression, a skill miniature)."""
