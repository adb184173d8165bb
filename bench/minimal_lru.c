/* The speed yardsticks for bench/speed_cache.py: the smallest useful C loops
 * over the same trace file -- one 32 KiB 8-way LRU level, 64-byte lines, the
 * access size and kind ignored, only misses counted.  memcore does much more
 * per record (line splitting, kinds, dirty bits, counters, write-backs), so
 * these are upper bounds, not competitors.
 *
 *   stamp  the dumbest loop: every way compared (no early exit), a use stamp
 *          per way, the smallest stamp evicted.
 *   mtf    a well-written one: each set's tags kept in recency order (way 0
 *          most recent), the search stops at the hit, a hit in way 0 costs
 *          one compare, a hit in way k moves k tags, a miss shifts the set.
 *
 * Usage: minimal_lru TRACE.npy   (an ACCESS_DTYPE array, 16-byte records)
 * Prints: "<records> <misses> <cpu seconds stamp> <cpu seconds mtf>", each
 * the best of three runs (the two loops count the same misses).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "npy_records.h"

enum { LINE_BITS = 6, SETS = 64, WAYS = 8 };

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s TRACE.npy\n", argv[0]); return 2; }
    long n;
    rec_t *t = read_records(argv[1], &n);
    if (!t) return 1;
    double best = 1e30, best_mtf = 1e30;
    uint64_t misses = 0, misses_mtf = 0;
    for (int rep = 0; rep < 3; rep++) {
        static uint64_t tags[SETS * WAYS], stamp[SETS * WAYS];
        uint64_t clk = 0;
        misses = 0;
        for (int i = 0; i < SETS * WAYS; i++) { tags[i] = ~0ull; stamp[i] = 0; }
        struct timespec a, b;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
        for (long i = 0; i < n; i++) {
            uint64_t line = t[i].addr >> LINE_BITS;
            uint64_t *tg = tags + (line & (SETS - 1)) * WAYS, *st = stamp + (line & (SETS - 1)) * WAYS;
            int w, hit = -1;
            for (w = 0; w < WAYS; w++) if (tg[w] == line) hit = w;
            if (hit < 0) {
                misses++;
                hit = 0;
                for (w = 1; w < WAYS; w++) if (st[w] < st[hit]) hit = w;
                tg[hit] = line;
            }
            st[hit] = ++clk;
        }
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
        double dt = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        if (dt < best) best = dt;

        /* mtf: recency-ordered sets, early exit. */
        misses_mtf = 0;
        for (int i = 0; i < SETS * WAYS; i++) tags[i] = ~0ull;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
        for (long i = 0; i < n; i++) {
            uint64_t line = t[i].addr >> LINE_BITS;
            uint64_t *tg = tags + (line & (SETS - 1)) * WAYS;
            int w;
            if (tg[0] == line) continue;
            for (w = 1; w < WAYS && tg[w] != line; w++) ;
            if (w == WAYS) { misses_mtf++; w = WAYS - 1; }
            for (; w > 0; w--) tg[w] = tg[w - 1];
            tg[0] = line;
        }
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
        dt = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        if (dt < best_mtf) best_mtf = dt;
    }
    if (misses != misses_mtf) { fprintf(stderr, "yardsticks disagree\n"); return 1; }
    printf("%ld %llu %.6f %.6f\n", n, (unsigned long long)misses, best, best_mtf);
    return 0;
}
