"""The installed package: layout, shared access dtype, version report."""
import io
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import memcore
import pyapi
from memcore import access


def test_access_dtype_is_16_bytes_and_matches_struct():
    dt = memcore.ACCESS_DTYPE
    assert dt.itemsize == 16
    assert dt.names == ("addr", "size", "kind", "cpu", "pid")
    assert dt["addr"] == np.dtype("<u8")
    assert access._struct_dtype() == dt


def test_kind_values_follow_lackey_order():
    assert (access.IFETCH, access.LOAD, access.STORE, access.MODIFY, access.FLUSH) == (0, 1, 2, 3, 4)
    assert access.KIND_NAMES[access.MODIFY] == "modify"


def test_make_keeps_64_bit_addresses():
    a = access.make([0x1_0000_0040, 2**64 - 1], size=8, kind=[access.LOAD, access.STORE])
    assert a.dtype == memcore.ACCESS_DTYPE
    assert int(a["addr"][0]) == 0x1_0000_0040
    assert int(a["addr"][1]) == 2**64 - 1
    assert list(a["kind"]) == [1, 2]


@pytest.mark.parametrize("kwargs, field", [({"size": 256}, "size"), ({"kind": 7}, "kind"), ({"size": -1}, "size")])
def test_make_rejects_bad_fields(kwargs, field):
    with pytest.raises(ValueError, match=field):
        access.make([0], **kwargs)


def test_pxd_files_ship_with_the_package():
    pkg = pathlib.Path(memcore.__file__).parent
    assert (pkg / "_typedefs.pxd").exists()
    assert (pkg / "access.pxd").exists()


def test_show_versions_names_memcore_and_numpy():
    buf = io.StringIO()
    pyapi.show_versions(file=buf)
    out = buf.getvalue()
    assert "memcore" in out and "numpy" in out and "access" in out


def test_python_m_pyapi_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "pyapi", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"memcore {pyapi.__version__}"
