"""Build the compiled engine (``src/memcore/*.pyx``).

Compiler directives are set once here.  Set ``MEMCORE_DEBUG=1`` in the
environment to build with bounds checks, wraparound and -O0 -g, which turns an
out-of-bounds index in a kernel into an ``IndexError`` instead of undefined
behaviour.
"""
import glob
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("MEMCORE_DEBUG", "0") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

if sys.platform == "win32":
    extra_compile_args = ["/O2"]
else:
    extra_compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]
    extra_compile_args += ["-Wno-unused-function", "-Wno-unreachable-code"]

extensions = [
    Extension(
        "memcore." + os.path.splitext(os.path.basename(path))[0],
        [path],
        include_dirs=[np.get_include(), "src"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=extra_compile_args,
    )
    for path in sorted(glob.glob(os.path.join("src", "memcore", "*.pyx")))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        include_path=["src"],
        nthreads=int(os.environ.get("MEMCORE_BUILD_JOBS", "0")),
    ),
)
