# C contract of a cache hierarchy (implemented in memcore/cache.pyx).
#
# A kernel that needs to push accesses through a machine's caches (page-walk
# reads from the MMU, for instance) does:
#
#     from memcore.hierarchy cimport Hierarchy, hier_t, hier_access
#     cdef hier_t* h = &(<Hierarchy>hierarchy_obj).h
#     served = hier_access(h, paddr, 8, KIND_LOAD)   # nogil, never fails
#
# ``hier_access`` returns the index of the deepest level that served the
# access (``h.n_levels`` means memory; the names are ``Hierarchy.names`` in
# index order ``Hierarchy.level_names``), or -1 for a flush record or a
# skipped instruction fetch.  The counters it updates are the hierarchy's
# own, exactly as for trace records.  The pointer stays valid as long as the
# Hierarchy object lives.

from memcore.cache cimport (hier_t, level_t, hier_access, hier_flush, hier_run,
                            level_lookup, level_count_dirty, Cache)


cdef class Hierarchy:
    cdef hier_t h
    cdef readonly tuple names          # top-down order
    cdef readonly tuple level_names    # engine index order
    cdef readonly str compat
    cdef readonly object data_entry, inst_entry
    cdef readonly object gstats
    cdef dict _levels
    cdef list _configs
