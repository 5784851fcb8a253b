"""Loops: the one step loop, evaluation, meta-training, pretraining, fine-tuning, multi-task."""
