"""Build the compiled engine (``src/memcore/*.pyx``).

Compiler directives are set once here.  Set ``MEMCORE_DEBUG=1`` in the
environment to build with bounds checks, wraparound and -O0 -g, which turns an
out-of-bounds index in a kernel into an ``IndexError`` instead of undefined
behaviour.
"""
import glob
import os
import subprocess
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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

# GCC's default inlining limits leave the per-access helpers of the kernels
# (a TLB search, the MMU's translate) as calls inside the batch loops; with
# these they inline.  Callgrind, full pipeline: about 6 % fewer instructions
# a record over random 4 MiB loads, about 10 % fewer over the lackey trace.
GCC_INLINING = ["--param", "max-inline-insns-single=2000", "--param", "max-inline-insns-auto=200"]


def _is_gcc(command):
    """True if the C compiler `command` (a list, maybe behind ccache) is GCC."""
    words = [w for w in command if not w.startswith("-")]
    if words and os.path.basename(words[0]) == "ccache":
        words = words[1:]
    if not words:
        return False
    try:
        banner = subprocess.run([words[0], "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "Free Software Foundation" in banner     # clang (also when called gcc) says otherwise


class BuildExt(build_ext):
    """build_ext that adds GCC_INLINING when the compiler is GCC (not in debug builds)."""

    def build_extensions(self):
        if not DEBUG and self.compiler.compiler_type == "unix" and _is_gcc(self.compiler.compiler_so):
            for ext in self.extensions:
                ext.extra_compile_args = list(ext.extra_compile_args) + GCC_INLINING
        super().build_extensions()


def _directives_changed():
    """True if the generated C may come from other directives (then regenerate it all).

    cythonize only compares file times, and the C files do not say whether
    they were made with bounds checks: without this, switching MEMCORE_DEBUG
    would keep the old C.  The directives of the last build are kept in
    build/memcore-directives.txt.
    """
    stamp = os.path.join("build", "memcore-directives.txt")
    want = repr(sorted(directives.items()))
    try:
        with open(stamp) as f:
            have = f.read()
    except OSError:
        have = None
    if have == want:
        return False
    os.makedirs("build", exist_ok=True)
    with open(stamp, "w") as f:
        f.write(want)
    return True


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
        force=_directives_changed(),
    ),
    cmdclass={"build_ext": BuildExt},
)
