"""pyapi: the Python API of memcore.

Configuration, composition of the engine's kernels into a machine, trace
formats, the replay driver, reports and the ``memcore`` command line.  It
imports the compiled engine :mod:`memcore`; the engine never imports it.

The names most users need are importable from here::

    from pyapi import replay, load_config
    report = replay("trace.lackey.gz", "x86-64")
    print(report)
"""
from pyapi._versions import show_versions
from pyapi.config import CacheConfig, MachineConfig, load_config
from pyapi.physmem import PhysicalMemory
from pyapi.replay import replay
from pyapi.report import Report
from pyapi.trace import open_trace, read_trace

__version__ = "0.1.0"

__all__ = [
    "CacheConfig",
    "MachineConfig",
    "PhysicalMemory",
    "Report",
    "load_config",
    "open_trace",
    "read_trace",
    "replay",
    "show_versions",
    "__version__",
]
