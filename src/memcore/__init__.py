"""memcore: the compiled engine.

Each kernel (``memcore.cache``, ``memcore.hierarchy``, ``memcore.tlb``, ...)
is a Cython module that keeps its whole state in numpy arrays and offers a
C-level API in its ``.pxd``, a Python class for exploration, and batch methods
over numpy arrays.  The Python API that composes them is :mod:`pyapi`.
"""
from memcore.access import ACCESS_DTYPE

__version__ = "0.1.0"

__all__ = ["ACCESS_DTYPE", "__version__"]
