"""Notebook 02: the fine-tuning rules of thumb (one run, the rules, selection and speed)."""
