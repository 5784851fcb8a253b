"""Notebook 01: multi-task learning vs transfer learning (tasks, runs)."""
