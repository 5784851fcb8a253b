"""Shared helpers for the transfer-learning and black-box meta-learning notebooks.

Sub-packages in the lecture's order, each importing only from those before it: ``core``,
``data``, ``episodes``, ``models``, ``training``, ``analysis``, ``exercises``, then one package
per notebook under ``experiments``. Import what you need by its full path, e.g.
``from lecture_utils.core import runtime`` or ``from lecture_utils.data import omniglot``.
"""

__version__ = "0.1.0"
