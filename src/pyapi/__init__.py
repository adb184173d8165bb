"""pyapi: the Python API of memcore.

Configuration, composition of the engine's kernels into a machine, trace
formats, the replay driver, reports and the ``memcore`` command line.  It
imports the compiled engine :mod:`memcore`; the engine never imports it.
"""
from pyapi._versions import show_versions

__version__ = "0.1.0"

__all__ = ["show_versions", "__version__"]
