/* memcore/_ring.h -- what the two-thread replay of memcore.mmu needs from C.
 *
 * MMU.run can send its cache operations to the hierarchy from a second
 * thread (see mmu.pyx, "Two threads"): the translating thread hands chunks
 * of operations over through a ring, the other sends them in order.  This
 * header gives the ring its counters (loads with acquire, stores with
 * release semantics, so that a chunk's operations are visible before the
 * count that hands it over), a polite spin for the thread that waits, and
 * the start and join of the thread.  Where threads or atomics are not
 * available, memcore_thread_start fails and the replay stays on one thread.
 */
#ifndef MEMCORE_RING_H
#define MEMCORE_RING_H

#include <stdint.h>
#include <stdlib.h>

#if defined(__GNUC__) || defined(__clang__)
#define MEMCORE_RING_ATOMICS 1
static inline intptr_t memcore_load_acquire(const intptr_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void memcore_store_release(intptr_t* p, intptr_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
#else
/* Only reached where memcore_thread_start below always fails: one thread. */
static inline intptr_t memcore_load_acquire(const intptr_t* p) { return *(const volatile intptr_t*)p; }
static inline void memcore_store_release(intptr_t* p, intptr_t v) { *(volatile intptr_t*)p = v; }
#endif

#if defined(MEMCORE_RING_ATOMICS) && !defined(_WIN32)
#include <pthread.h>
#include <sched.h>
#define MEMCORE_RING_THREADS 1
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MEMCORE_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define MEMCORE_PAUSE() __asm__ __volatile__("yield")
#else
#define MEMCORE_PAUSE() ((void)0)
#endif

/* One round of waiting for the other thread: a few pause instructions, then
 * (after *spins rounds) give the core away, so that a waiting thread does not
 * starve the other where they share one. */
static inline void memcore_ring_wait(int* spins)
{
    int k;
    if (*spins < 256) {
        ++*spins;
        for (k = 0; k < 8; k++)
            MEMCORE_PAUSE();
        return;
    }
#ifdef MEMCORE_RING_THREADS
    sched_yield();
#endif
}

typedef void* (*memcore_thread_fn)(void*);

/* Start fn(arg) on a new thread; 0 on success (*handle set), -1 if no
 * thread could be started (the caller then does the work itself). */
static inline int memcore_thread_start(memcore_thread_fn fn, void* arg, void** handle)
{
#ifdef MEMCORE_RING_THREADS
    pthread_t* t = (pthread_t*)malloc(sizeof(pthread_t));
    if (t == NULL)
        return -1;
    if (pthread_create(t, NULL, fn, arg) != 0) {
        free(t);
        return -1;
    }
    *handle = t;
    return 0;
#else
    (void)fn; (void)arg; (void)handle;
    return -1;
#endif
}

/* Wait for a thread started by memcore_thread_start to return. */
static inline void memcore_thread_join(void* handle)
{
#ifdef MEMCORE_RING_THREADS
    pthread_t* t = (pthread_t*)handle;
    pthread_join(*t, NULL);
    free(t);
#else
    (void)handle;
#endif
}

#endif
