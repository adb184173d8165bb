"""Host-memory layout of the engine's numpy state.

The kernels keep their state in numpy arrays.  Two things about where those
arrays sit in host memory matter for speed, never for results:

* a set of a cache level or a TLB should start on a host cache line, so that
  it spans as few lines as it can (one 8-way set of tags: one line);
* an array written on every access (a clock, a counter) must not share a host
  line with an array that another thread writes: ``MMU(threads=2)`` runs the
  TLBs on one thread and the caches on the other, and small arrays from the
  allocator are often neighbours, so each thread's writes would keep taking
  the line from the other.

:func:`own_lines` gives arrays that do both.
"""
import numpy as np

#: Bytes in a host cache line (x86-64 and most 64-bit cores).
HOST_LINE = 64


def own_lines(n, dtype, fill=0):
    """Return a 1-d array that starts on a host line and shares none of its lines.

    Parameters
    ----------
    n : int
        Number of items.
    dtype : numpy.dtype or type
        Item type.
    fill : scalar, optional
        Value of every item (0).

    Returns
    -------
    numpy.ndarray
        A view into a larger buffer: its first item starts a host line, and
        the buffer extends past the end of its last line, so no other
        allocation shares a line with it.  It pickles and copies as a plain
        array.
    """
    itemsize = np.dtype(dtype).itemsize
    raw = np.empty(n * itemsize + 2 * HOST_LINE, dtype=np.uint8)
    skip = -raw.ctypes.data % HOST_LINE
    out = raw[skip:skip + n * itemsize].view(dtype)
    out[...] = fill
    return out
