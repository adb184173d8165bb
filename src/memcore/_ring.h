/* memcore/_ring.h -- what the two-thread replay of memcore.mmu needs from C.
 *
 * MMU.run can send its cache operations to the hierarchy from a second
 * thread (see mmu.pyx, "Two threads"): the translating thread hands chunks
 * of operations over through a ring, the other sends them in order.  This
 * header gives the ring its counters (loads with acquire, stores with
 * release semantics, so that a chunk's operations are visible before the
 * count that hands it over), the wait of the thread that has nothing to do,
 * and the start and join of the thread.  Where threads or atomics are not
 * available, memcore_thread_start fails and the replay stays on one thread.
 *
 * A waiting thread spins a little (a hand-over usually comes within
 * microseconds) and then sleeps on a condition variable until the other
 * thread moves a counter, so that a run on a busy machine does not burn a
 * core on waiting: each counter store is followed by memcore_ring_notify,
 * which costs a fence and a load unless someone sleeps.
 */
#ifndef MEMCORE_RING_H
#define MEMCORE_RING_H

#include <stdint.h>
#include <stdlib.h>

#if (defined(__GNUC__) || defined(__clang__)) && !defined(_WIN32)
#include <pthread.h>
#include <time.h>
#define MEMCORE_RING_THREADS 1
static inline intptr_t memcore_load_acquire(const intptr_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void memcore_store_release(intptr_t* p, intptr_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
#define MEMCORE_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#else
/* Only reached where memcore_thread_start below always fails: one thread. */
static inline intptr_t memcore_load_acquire(const intptr_t* p) { return *(const volatile intptr_t*)p; }
static inline void memcore_store_release(intptr_t* p, intptr_t v) { *(volatile intptr_t*)p = v; }
#define MEMCORE_FENCE() ((void)0)
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MEMCORE_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define MEMCORE_PAUSE() __asm__ __volatile__("yield")
#else
#define MEMCORE_PAUSE() ((void)0)
#endif

/* Nanoseconds a waiting thread spins before it sleeps.  Longer than the
 * other thread takes for a chunk when both have a core (tens of
 * microseconds), so that on a machine with cores to spare neither sleeps:
 * a wake-up costs a system call, and Linux tends to wake a thread on the
 * waker's core, where the two would then share one core until the
 * scheduler moves one away.  Where they do not each have a core, a
 * waiting thread stops taking CPU time from others after this long. */
#define MEMCORE_RING_SPIN_NS 300000

#ifdef MEMCORE_RING_THREADS
static inline int64_t memcore_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
#endif

/* Where the threads of a ring sleep.  `sleepers` is read and written only
 * with atomics; the mutex orders a sleeper's last look at the counters
 * before its sleep against a notifier's wake-up. */
typedef struct {
#ifdef MEMCORE_RING_THREADS
    pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
    intptr_t sleepers;
} memcore_ring_sync;

/* 0 on success; -1 if the sync could not be set up (no second thread then). */
static inline int memcore_sync_init(memcore_ring_sync* s)
{
    s->sleepers = 0;
#ifdef MEMCORE_RING_THREADS
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    return 0;
#else
    return -1;
#endif
}

static inline void memcore_sync_destroy(memcore_ring_sync* s)
{
#ifdef MEMCORE_RING_THREADS
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
#else
    (void)s;
#endif
}

/* Wait while *word == seen and *stop == 0 (stop may be NULL): spin for up
 * to MEMCORE_RING_SPIN_NS, then sleep until a memcore_ring_notify.  May
 * return early; callers look at the counters again. */
static inline void memcore_ring_wait(memcore_ring_sync* s, const intptr_t* word, intptr_t seen,
                                     const intptr_t* stop)
{
    int k;
#ifdef MEMCORE_RING_THREADS
    int64_t until = memcore_now_ns() + MEMCORE_RING_SPIN_NS;
    do {
        if (memcore_load_acquire(word) != seen || (stop && memcore_load_acquire(stop)))
            return;
        for (k = 0; k < 16; k++)
            MEMCORE_PAUSE();
    } while (memcore_now_ns() < until);
    pthread_mutex_lock(&s->mu);
    __atomic_add_fetch(&s->sleepers, 1, __ATOMIC_SEQ_CST);
    MEMCORE_FENCE();
    /* Announced, then looked again: a counter moved after this look is
     * followed by a notify that sees the announcement and must take the
     * mutex, which this thread only gives up inside the wait. */
    while (memcore_load_acquire(word) == seen && !(stop && memcore_load_acquire(stop)))
        pthread_cond_wait(&s->cv, &s->mu);
    __atomic_sub_fetch(&s->sleepers, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&s->mu);
#else
    (void)s; (void)word; (void)seen; (void)stop; (void)k;
#endif
}

/* After a counter store: wake the other thread if it sleeps. */
static inline void memcore_ring_notify(memcore_ring_sync* s)
{
#ifdef MEMCORE_RING_THREADS
    MEMCORE_FENCE();
    if (__atomic_load_n(&s->sleepers, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
#else
    (void)s;
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
