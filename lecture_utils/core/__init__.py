"""The bottom floor: seeds, devices and progress (runtime), files (store), t intervals (stats)."""
