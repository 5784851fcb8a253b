"""Shared helpers for the transfer-learning and black-box meta-learning notebooks.

Import the submodules you need, e.g. ``from lecture_utils import omniglot, runtime``.
"""

__version__ = "0.1.0"
