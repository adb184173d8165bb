"""Build a small extension that cimports memcore's ``.pxd`` contracts.

The C-API tests use this to exercise each kernel's C contract the way a
downstream extension would: against the ``.pxd`` files shipped with the
*installed* package (found next to ``memcore/__init__.py``), compiled by
Cython and setuptools in a temporary directory.
"""
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SETUP = textwrap.dedent("""
    import numpy as np
    from Cython.Build import cythonize
    from setuptools import Extension, setup
    setup(ext_modules=cythonize(
        [Extension({name!r}, [{name!r} + ".pyx"], include_dirs=[np.get_include(), {inc!r}],
                   extra_compile_args=["-O1"])],
        include_path=[{inc!r}], quiet=True))
""")


def build_cimport_user(directory, name, pyx_source):
    """Compile ``pyx_source`` as module `name` in `directory` and import it.

    Skips the calling test when Cython or setuptools is missing; fails it,
    with the compiler's output, when the build fails.
    """
    pytest.importorskip("Cython", reason="building a cimport user needs Cython")
    pytest.importorskip("setuptools", reason="building a cimport user needs setuptools")
    import memcore

    inc = str(Path(memcore.__file__).resolve().parent.parent)
    d = Path(directory)
    (d / f"{name}.pyx").write_text(textwrap.dedent(pyx_source))
    (d / "setup.py").write_text(SETUP.format(name=name, inc=inc))
    r = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=d,
                       capture_output=True, text=True)
    if r.returncode:
        pytest.fail(f"building {name} against memcore's .pxd failed:\n"
                    + r.stdout[-2000:] + r.stderr[-3000:])
    sys.path.insert(0, str(d))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(d))
