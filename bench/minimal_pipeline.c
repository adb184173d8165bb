/* The speed yardstick for bench/pipeline_yardstick.py: the straightforward C
 * a competent engineer would write for the translation pipeline of
 * bench/bench_mmu.py, and nothing more -- a typical C simulator's inner loop
 * (flat arrays, linear set scans, LRU use stamps, no prefetch, no SIMD).
 *
 *   DTLB  64 entries, 4-way (4 KiB pages)      -> STLB 1536 entries, 12-way
 *   walk caches PML4E 2, PDPTE 4, PDE 32 entries, fully associative
 *   x86-64 4-level page tables, entries read as 8-byte loads through
 *   L1D 32 KiB 8-way -> L2 1 MiB 16-way -> L3 32 MiB 16-way (64-byte lines)
 *   every level LRU; a miss fills each cache level that missed
 *   (non-inclusive; loads only, so nothing is ever dirty).
 *
 * Semantics follow memcore's so the counts can be compared exactly: a TLB
 * miss looks the next level up, a translation fills every level that missed;
 * a walk looks the walk caches up deepest first (PDE, PDPTE, PML4E) and
 * starts below the first hit; each entry it reads goes through the caches;
 * a successful walk fills the walk caches of the levels it read.  A fill
 * takes the lowest invalid way, else the oldest stamp.  A walk that finds
 * an entry not present is a page fault: it invalidates the TLB and walk-cache
 * entries covering the address (as x86 does), the page is mapped and the
 * record starts over.  Mapping a page takes the next sequential frame
 * (from 0x100) for the data, then one for each missing table, top down.
 * The first-touch mapping only ever makes 4 KiB pages, so the 2 MiB and
 * 1 GiB arrays of memcore's levels would stay empty; they are left out.
 *
 * Usage: minimal_pipeline TRACE.npy   (an ACCESS_DTYPE array, 16-byte
 * records; loads only, one address space, no record crossing a 64-byte line,
 * user-half addresses)
 * One untimed pass maps the pages on first touch, then three timed passes
 * (process CPU time) continue on the warm state.  Prints one line of
 * name=value pairs: the counts of the first timed pass and the CPU seconds
 * of each pass (cpu = the best).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "npy_records.h"

enum { KIND_LOAD = 1, LINE_BITS = 6, FRAME0 = 0x100, PRESENT = 1 };

/* ---- caches: tags and use stamps, set-major -------------------------- */
typedef struct { uint64_t *tag, *stamp, clock, sets, ways, misses; } cache_t;
enum { NCACHE = 3 };                      /* L1D, L2, L3; index 3: memory */
static cache_t cache[NCACHE];

static void cache_init(cache_t *c, uint64_t size, uint64_t ways) {
    c->ways = ways;
    c->sets = size / 64 / ways;
    c->tag = malloc(c->sets * ways * sizeof(uint64_t));
    c->stamp = calloc(c->sets * ways, sizeof(uint64_t));
    for (uint64_t i = 0; i < c->sets * ways; i++) c->tag[i] = ~0ull;
}

/* Load one line; returns the level that had it (NCACHE: memory). */
static int load_line(uint64_t line) {
    int l, served = NCACHE;
    for (l = 0; l < NCACHE; l++) {
        cache_t *c = &cache[l];
        uint64_t base = (line & (c->sets - 1)) * c->ways, w;
        for (w = 0; w < c->ways; w++)
            if (c->tag[base + w] == line) break;
        if (w < c->ways) { c->stamp[base + w] = ++c->clock; served = l; break; }
        c->misses++;
    }
    for (int k = 0; k < l; k++) {          /* fill every level that missed */
        cache_t *c = &cache[k];
        uint64_t base = (line & (c->sets - 1)) * c->ways, v = 0;
        for (uint64_t w = 1; w < c->ways; w++)
            if (c->stamp[base + w] < c->stamp[base + v]) v = w;
        c->tag[base + v] = line;
        c->stamp[base + v] = ++c->clock;
    }
    return served;
}

/* ---- TLB levels and walk caches: set-associative, LRU ---------------- */
typedef struct { uint64_t vpn, pfn, stamp; int valid; } tlbe_t;
typedef struct { tlbe_t *e; uint64_t sets, ways, clock, accesses, misses; int shift; } tlb_t;

static void tlb_init(tlb_t *t, uint64_t entries, uint64_t ways, int shift) {
    t->ways = ways;
    t->sets = entries / ways;
    t->shift = shift;
    t->e = calloc(entries, sizeof(tlbe_t));
}

static tlbe_t *tlb_set(tlb_t *t, uint64_t vpn) { return t->e + (vpn & (t->sets - 1)) * t->ways; }

/* The entry translating va, touched, or NULL. */
static tlbe_t *tlb_lookup(tlb_t *t, uint64_t va) {
    uint64_t vpn = va >> t->shift;
    tlbe_t *s = tlb_set(t, vpn);
    t->accesses++;
    for (uint64_t w = 0; w < t->ways; w++)
        if (s[w].valid && s[w].vpn == vpn) { s[w].stamp = ++t->clock; return &s[w]; }
    t->misses++;
    return NULL;
}

static void tlb_fill(tlb_t *t, uint64_t va, uint64_t pfn) {
    uint64_t vpn = va >> t->shift;
    tlbe_t *s = tlb_set(t, vpn), *v = NULL, *old = NULL;
    for (uint64_t w = 0; w < t->ways; w++) {
        if (!s[w].valid) { if (!v) v = &s[w]; }
        else if (s[w].vpn == vpn) { v = &s[w]; break; }
        else if (!old || s[w].stamp < old->stamp) old = &s[w];
    }
    if (!v) v = old;
    v->vpn = vpn; v->pfn = pfn; v->valid = 1; v->stamp = ++t->clock;
}

static void tlb_invalidate(tlb_t *t, uint64_t va) {
    uint64_t vpn = va >> t->shift;
    tlbe_t *s = tlb_set(t, vpn);
    for (uint64_t w = 0; w < t->ways; w++)
        if (s[w].valid && s[w].vpn == vpn) s[w].valid = 0;
}

static tlb_t dtlb, stlb, pwc[5];          /* pwc[2] PDE, [3] PDPTE, [4] PML4E */

/* ---- page tables: 512-entry tables in frames from a sequential counter */
static uint64_t (*table)[512];            /* the tables, in allocation order */
static int32_t *table_at;                 /* frame - FRAME0 -> table, -1: data */
static uint64_t ntables, next_frame = FRAME0, frames_cap, tables_cap;
static uint64_t cr3;

static uint64_t new_frame(int is_table) {
    uint64_t pfn = next_frame++;
    if (pfn - FRAME0 >= frames_cap) {
        frames_cap = frames_cap ? 2 * frames_cap : 4096;
        table_at = realloc(table_at, frames_cap * sizeof(int32_t));
    }
    table_at[pfn - FRAME0] = -1;
    if (is_table) {
        if (ntables == tables_cap) {
            tables_cap = tables_cap ? 2 * tables_cap : 64;
            table = realloc(table, tables_cap * sizeof *table);
        }
        memset(table[ntables], 0, sizeof *table);
        table_at[pfn - FRAME0] = (int32_t)ntables++;
    }
    return pfn;
}

static uint64_t *table_of(uint64_t pa) { return table[table_at[(pa >> 12) - FRAME0]]; }
static unsigned idx(uint64_t va, int level) { return (va >> (12 + 9 * (level - 1))) & 511; }

/* First touch: the data frame first, then each missing table top down. */
static void map_page(uint64_t va) {
    uint64_t data = new_frame(0), pa = cr3;
    for (int level = 4; level > 1; level--) {
        if (!(table_of(pa)[idx(va, level)] & PRESENT)) {
            uint64_t child = new_frame(1);     /* may move the tables */
            table_of(pa)[idx(va, level)] = child << 12 | PRESENT;
        }
        pa = table_of(pa)[idx(va, level)] & ~0xFFFull;
    }
    table_of(pa)[idx(va, 1)] = data << 12 | PRESENT;
}

/* ---- the pipeline ----------------------------------------------------- */
static uint64_t walks, pwc_hits, walk_refs, walk_served[NCACHE + 1];

/* Physical address of va, or ~0 on a page fault. */
static uint64_t translate(uint64_t va) {
    tlbe_t *e = tlb_lookup(&dtlb, va);
    if (e) return e->pfn << 12 | (va & 0xFFF);
    e = tlb_lookup(&stlb, va);
    if (e) {
        tlb_fill(&dtlb, va, e->pfn);
        return e->pfn << 12 | (va & 0xFFF);
    }
    walks++;
    int level = 4, start;
    uint64_t pa = cr3, next[5] = {0};
    for (int l = 2; l <= 4; l++)
        if ((e = tlb_lookup(&pwc[l], va))) { level = l - 1; pa = e->pfn << 12; pwc_hits++; break; }
    start = level;
    for (;;) {
        uint64_t pte = table_of(pa)[idx(va, level)];
        walk_refs++;
        walk_served[load_line((pa + 8 * idx(va, level)) >> LINE_BITS)]++;
        if (!(pte & PRESENT)) {
            tlb_invalidate(&dtlb, va);
            tlb_invalidate(&stlb, va);
            for (int l = 2; l <= 4; l++) tlb_invalidate(&pwc[l], va);
            return ~0ull;
        }
        pa = pte & ~0xFFFull;
        if (level == 1) break;
        next[level--] = pa;
    }
    for (int l = start; l >= 2; l--) tlb_fill(&pwc[l], va, next[l] >> 12);
    tlb_fill(&stlb, va, pa >> 12);
    tlb_fill(&dtlb, va, pa >> 12);
    return pa | (va & 0xFFF);
}

static double cpu_now(void) {
    struct timespec a;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    return (double)a.tv_sec + 1e-9 * (double)a.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s TRACE.npy\n", argv[0]); return 2; }
    long n;
    rec_t *t = read_records(argv[1], &n);
    if (!t) return 1;
    for (long i = 0; i < n; i++) {
        unsigned size = t[i].size ? t[i].size : 1;
        if (t[i].kind != KIND_LOAD || t[i].pid != t[0].pid || (t[i].addr & 63) + size > 64 || t[i].addr >> 47) {
            fprintf(stderr, "%s: record %ld: only loads of one address space, within one line, below 2**47\n", argv[1], i);
            return 1;
        }
    }

    cache_init(&cache[0], 32 << 10, 8);
    cache_init(&cache[1], 1 << 20, 16);
    cache_init(&cache[2], 32 << 20, 16);
    tlb_init(&dtlb, 64, 4, 12);
    tlb_init(&stlb, 1536, 12, 12);
    tlb_init(&pwc[2], 32, 32, 21);
    tlb_init(&pwc[3], 4, 4, 30);
    tlb_init(&pwc[4], 2, 2, 39);
    cr3 = new_frame(1) << 12;

    /* Warm pass: map on first touch (the faulting record starts over). */
    for (long i = 0; i < n; i++) {
        uint64_t pa;
        while ((pa = translate(t[i].addr)) == ~0ull) map_page(t[i].addr);
        load_line(pa >> LINE_BITS);
    }

    static const char *names[] = {"dtlb_accesses", "dtlb_misses", "stlb_misses", "walks", "walk_cache_hits",
                                  "walk_refs", "walk_refs_l1d", "walk_refs_l2", "walk_refs_l3",
                                  "walk_refs_memory", "l1d_misses", "l2_misses", "l3_misses", "frames"};
    enum { NCOUNTS = sizeof names / sizeof *names };
    uint64_t counts[NCOUNTS] = {0};
    double best = 1e30, secs[3];
    for (int rep = 0; rep < 3; rep++) {
        dtlb.accesses = dtlb.misses = stlb.misses = walks = pwc_hits = walk_refs = 0;
        memset(walk_served, 0, sizeof walk_served);
        for (int l = 0; l < NCACHE; l++) cache[l].misses = 0;
        uint64_t faults = 0;
        double a = cpu_now();
        for (long i = 0; i < n; i++) {
            uint64_t pa = translate(t[i].addr);
            if (pa == ~0ull) { faults++; continue; }
            load_line(pa >> LINE_BITS);
        }
        secs[rep] = cpu_now() - a;
        if (secs[rep] < best) best = secs[rep];
        if (faults) { fprintf(stderr, "%llu faults in a timed pass\n", (unsigned long long)faults); return 1; }
        if (rep == 0) {
            uint64_t v[NCOUNTS] = {dtlb.accesses, dtlb.misses, stlb.misses, walks, pwc_hits, walk_refs,
                                   walk_served[0], walk_served[1], walk_served[2], walk_served[3],
                                   cache[0].misses, cache[1].misses, cache[2].misses, next_frame - FRAME0};
            memcpy(counts, v, sizeof v);
        }
    }
    printf("records=%ld", n);
    for (int k = 0; k < NCOUNTS; k++) printf(" %s=%llu", names[k], (unsigned long long)counts[k]);
    printf(" cpu=%.9f cpu_passes=%.9f,%.9f,%.9f\n", best, secs[0], secs[1], secs[2]);
    return 0;
}
