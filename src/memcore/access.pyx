"""The access record shared by every part of memcore.

An access is ``(address, size, kind)`` plus the CPU and process that issued
it.  Traces are numpy arrays of :data:`ACCESS_DTYPE`; the compiled kernels view
them as C structs (``memcore.access.access_t`` in ``access.pxd``) without
copying.
"""
import numpy as np

cimport numpy as cnp

from memcore.access cimport access_t

cnp.import_array()

#: Instruction fetch (lackey ``I``).
IFETCH = KIND_IFETCH
#: Data load (lackey ``L``).
LOAD = KIND_LOAD
#: Data store (lackey ``S``).
STORE = KIND_STORE
#: Load then store of the same bytes (lackey ``M``).
MODIFY = KIND_MODIFY
#: Flush (write back and invalidate) every cache (Dinero label 4).
FLUSH = KIND_FLUSH

#: Names of the kinds, indexed by kind value.
KIND_NAMES = ("ifetch", "load", "store", "modify", "flush")


cdef access_t _dummy


def _struct_dtype():
    # Derive the dtype from the C struct itself so the two can never drift.
    return np.asarray(<access_t[:1]>(&_dummy)).dtype


#: The structured numpy dtype of one access record (16 bytes):
#: ``addr`` (uint64), ``size`` (uint8), ``kind`` (uint8), ``cpu`` (uint16),
#: ``pid`` (uint32).
ACCESS_DTYPE = np.dtype(
    [("addr", "<u8"), ("size", "u1"), ("kind", "u1"), ("cpu", "<u2"), ("pid", "<u4")],
    align=True,
)

if _struct_dtype() != ACCESS_DTYPE:  # pragma: no cover
    raise ImportError("memcore.access: ACCESS_DTYPE does not match access_t")


def empty(n):
    """Return an uninitialised array of `n` access records.

    Parameters
    ----------
    n : int
        Number of records.

    Returns
    -------
    numpy.ndarray
        Array of dtype :data:`ACCESS_DTYPE`.
    """
    return np.empty(n, dtype=ACCESS_DTYPE)


def make(addr, size=None, kind=None, cpu=0, pid=0):
    """Build an access array from columns.

    Parameters
    ----------
    addr : array_like of int
        Byte addresses (64-bit).
    size : array_like of int or int, optional
        Bytes per access, 1..255 (default 1).
    kind : array_like of int or int, optional
        Access kinds (:data:`IFETCH`, :data:`LOAD`, :data:`STORE`,
        :data:`MODIFY`, :data:`FLUSH`; default :data:`LOAD`).
    cpu, pid : array_like of int or int, optional
        Issuing CPU and process (default 0).

    Returns
    -------
    numpy.ndarray
        Array of dtype :data:`ACCESS_DTYPE`.

    Raises
    ------
    ValueError
        If a size is outside 0..255 or a kind is not a known kind.
    """
    addr = np.asarray(addr, dtype=np.uint64).ravel()
    out = np.zeros(addr.shape[0], dtype=ACCESS_DTYPE)
    out["addr"] = addr
    sizes = np.asarray(1 if size is None else size)
    if sizes.size and (np.any(sizes < 0) or np.any(sizes > 255)):
        raise ValueError(f"size: values must be in 0..255, got {sizes.min()}..{sizes.max()}")
    out["size"] = sizes
    kinds = np.asarray(LOAD if kind is None else kind)
    if kinds.size and (np.any(kinds < 0) or np.any(kinds >= N_KINDS)):
        raise ValueError(f"kind: values must be in 0..{N_KINDS - 1}, got {kinds.min()}..{kinds.max()}")
    out["kind"] = kinds
    out["cpu"] = cpu
    out["pid"] = pid
    return out
