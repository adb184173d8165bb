"""Version and build information, for bug reports."""
import importlib
import platform
import sys


def _version_of(name):
    try:
        mod = importlib.import_module(name)
    except ImportError:
        return None
    return getattr(mod, "__version__", "installed")


def versions():
    """Return memcore's version, build and dependency versions.

    Returns
    -------
    dict
        Keys ``memcore``, ``python``, ``platform``, ``build`` (compiled
        modules and whether they were built with bounds checks) and
        ``dependencies`` (name to version, or ``None`` when not installed).
    """
    import memcore

    build = {}
    try:
        import pkgutil

        build["modules"] = sorted(
            m.name for m in pkgutil.iter_modules(memcore.__path__) if not m.name.startswith("_")
        )
    except Exception:  # pragma: no cover - informational only
        build["modules"] = []
    deps = {
        name: _version_of(name)
        for name in ("numpy", "Cython", "tqdm", "pandas", "zstandard", "pycachesim", "hypothesis", "matplotlib")
    }
    return {
        "memcore": memcore.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "build": build,
        "dependencies": deps,
    }


def show_versions(file=None):
    """Print memcore's version, build and dependency versions.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).
    """
    file = sys.stdout if file is None else file
    info = versions()
    print(f"memcore    : {info['memcore']}", file=file)
    print(f"python     : {info['python']}", file=file)
    print(f"platform   : {info['platform']}", file=file)
    print(f"modules    : {', '.join(info['build']['modules'])}", file=file)
    for name, ver in info["dependencies"].items():
        print(f"{name:<11}: {ver if ver is not None else '-'}", file=file)
