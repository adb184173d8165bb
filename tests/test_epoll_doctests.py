"""The examples in the readylist / io docstrings and the epoll guide run as shown."""
import doctest
import os

import pytest

import memcore.readylist
import pyapi.io
import pyapi.iopaths

GUIDE = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "guide", "epoll.rst")


@pytest.mark.parametrize("module", [memcore.readylist, pyapi.io, pyapi.iopaths])
def test_docstring_examples(module):
    res = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


def test_guide_examples():
    res = doctest.testfile(os.path.abspath(GUIDE), module_relative=False,
                           optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
