"""Tasks: N-way K-shot image episodes, meta-batches, and sine-wave regression tasks."""
