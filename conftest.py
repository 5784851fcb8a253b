"""Root pytest configuration: tests and notebooks run on the CPU unless told otherwise."""

import os

os.environ.setdefault("LECTURE_DEVICE", "cpu")
