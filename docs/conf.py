"""Sphinx configuration for memcore's documentation."""
import memcore

project = "memcore"
author = "memcore developers"
copyright = "2026, memcore developers"
release = memcore.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_typehints = "none"
intersphinx_mapping = {}
exclude_patterns = ["_build"]
templates_path = []
html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = "memcore"
html_theme_options = {"navigation_with_keys": False}
