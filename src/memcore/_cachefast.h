/* Set search for the cache engine (memcore/cache.pyx): the way of a set
 * whose tag equals `line`, or -1.
 *
 * A line is held by at most one way of its set, and no line number equals
 * the invalid tag (all ones), so "the first match" and "the only match" are
 * the same and the result does not depend on how the ways are compared.
 *
 * With SSE2 (every x86-64) the usual associativities compare two ways per
 * instruction without a branch: two 64-bit tags are equal exactly when both
 * of their 32-bit halves are, so the 32-bit equality mask is folded pairwise
 * and the first set pair gives the way.  Elsewhere a branch-free scalar scan
 * with a constant trip count is used.
 */
#ifndef MEMCORE_CACHEFAST_H
#define MEMCORE_CACHEFAST_H

#include <stdint.h>
#include <stddef.h>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define MEMCORE_SSE2 1
#include <emmintrin.h>
#endif

/* The record loops below are compiled as functions of their own: inlined
 * into the large hier_run their loop state is spilled to the stack. */
#if defined(__GNUC__)
#define MC_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define MC_NOINLINE __declspec(noinline)
#else
#define MC_NOINLINE
#endif

static inline ptrdiff_t mc_scan_any(const uint64_t *t, ptrdiff_t ways, uint64_t line)
{
    ptrdiff_t w, found = -1;
    for (w = 0; w < ways; w++)
        found = t[w] == line ? w : found;
    return found;
}

#ifdef MEMCORE_SSE2

#ifdef _MSC_VER
#include <intrin.h>
static inline int mc_ctz(unsigned x) { unsigned long i; _BitScanForward(&i, x); return (int)i; }
#else
#define mc_ctz(x) __builtin_ctz(x)
#endif

/* 16-bit mask: bit 2w and 2w+1 are the halves of way w (of 8 at most). */
static inline int mc_eq8_mask(const uint64_t *t, __m128i k, int n128)
{
    __m128i e0, e1, e2, e3, p;
    e0 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)t), k);
    e1 = n128 > 1 ? _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)t + 1), k) : _mm_setzero_si128();
    e2 = n128 > 2 ? _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)t + 2), k) : _mm_setzero_si128();
    e3 = n128 > 2 ? _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)t + 3), k) : _mm_setzero_si128();
    p = _mm_packs_epi16(_mm_packs_epi32(e0, e1), _mm_packs_epi32(e2, e3));
    return _mm_movemask_epi8(p);
}

static inline ptrdiff_t mc_mask_way(int m)
{
    m &= m >> 1;
    m &= 0x5555;
    return m ? (ptrdiff_t)(mc_ctz((unsigned)m) >> 1) : -1;
}

static inline ptrdiff_t mc_scan2(const uint64_t *t, uint64_t line)
{
    return mc_mask_way(mc_eq8_mask(t, _mm_set1_epi64x((long long)line), 1));
}

static inline ptrdiff_t mc_scan4(const uint64_t *t, uint64_t line)
{
    return mc_mask_way(mc_eq8_mask(t, _mm_set1_epi64x((long long)line), 2));
}

static inline ptrdiff_t mc_scan8(const uint64_t *t, uint64_t line)
{
    return mc_mask_way(mc_eq8_mask(t, _mm_set1_epi64x((long long)line), 4));
}

static inline ptrdiff_t mc_scan16(const uint64_t *t, uint64_t line)
{
    __m128i k = _mm_set1_epi64x((long long)line);
    int m = mc_eq8_mask(t, k, 4) | (mc_eq8_mask(t + 8, k, 4) << 16);
    unsigned u = (unsigned)m;
    u &= u >> 1;
    u &= 0x55555555u;
    return u ? (ptrdiff_t)(mc_ctz(u) >> 1) : -1;
}

#else

static inline ptrdiff_t mc_scan2(const uint64_t *t, uint64_t line) { return mc_scan_any(t, 2, line); }
static inline ptrdiff_t mc_scan4(const uint64_t *t, uint64_t line) { return mc_scan_any(t, 4, line); }
static inline ptrdiff_t mc_scan8(const uint64_t *t, uint64_t line) { return mc_scan_any(t, 8, line); }
static inline ptrdiff_t mc_scan16(const uint64_t *t, uint64_t line) { return mc_scan_any(t, 16, line); }

#endif

#if defined(__GNUC__)
#define MC_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define MC_ALWAYS_INLINE static inline
#endif

/* The way of `line` in the set at `t` of `ways` ways, or -1.  Inlined
 * wherever it is called (the all-LRU miss path calls it for every level it
 * looks up; a call would cost as much as the 8-way compare itself). */
MC_ALWAYS_INLINE ptrdiff_t mc_scan(const uint64_t *t, ptrdiff_t ways, uint64_t line)
{
    switch (ways) {
    case 8: return mc_scan8(t, line);
    case 4: return mc_scan4(t, line);
    case 16: return mc_scan16(t, line);
    case 2: return mc_scan2(t, line);
    case 1: return t[0] == line ? 0 : -1;
    default: return mc_scan_any(t, ways, line);
    }
}

/* ---- the hit run of hier_run ------------------------------------------
 *
 * A trace record as memcore.access lays it out (ACCESS_DTYPE, 16 bytes).
 */
typedef struct {
    uint64_t addr;
    uint8_t size, kind;
    uint16_t cpu;
    uint32_t pid;
} mc_rec_t;

typedef char mc_rec_is_16_bytes[sizeof(mc_rec_t) == 16 ? 1 : -1];

/* Consume the leading records of r[0..n) that hit a stamp-policy (LRU,
 * MRU) level: a load (kind 1), or a store (kind 2) when kmax is 1, that
 * lies within one line (an access of size 0 is one byte) and whose line is
 * resident.  For each: the way gets the next stamp, a store sets its dirty
 * bit.  Stops at the first other record (*missed is set when it is such
 * a load or store whose line is not resident) and returns how many were
 * consumed; *clk is advanced by that many and *stores by the stores among
 * them.  Exactly what hier_run's general loop does for such a record. */
#define MC_STAMP_HITS(NAME, WAYS, BITS, SCAN)                                     \
static MC_NOINLINE ptrdiff_t NAME(const mc_rec_t *r, ptrdiff_t n,             \
                             const uint64_t *tags, uint64_t *repl,            \
                             uint8_t *dirty, uint64_t set_mask,               \
                             ptrdiff_t ways, unsigned bits_, unsigned kmax,   \
                             uint64_t *clk, uint64_t *stores, int *missed)    \
{                                                                             \
    const unsigned bits = (BITS);                                             \
    uint64_t c = *clk, st = 0, lsize = (uint64_t)1 << bits;                   \
    ptrdiff_t i, base, w;                                                     \
    (void)ways;                                                               \
    (void)bits_;                                                              \
    for (i = 0; i < n; i++) {                                                 \
        uint64_t a = r[i].addr, line = a >> bits;                             \
        unsigned k = (unsigned)r[i].kind - 1u;                                \
        if (!((k <= kmax) & ((a & (lsize - 1)) + r[i].size <= lsize)))        \
            break;                                                            \
        base = (ptrdiff_t)(line & set_mask) * (WAYS);                         \
        w = SCAN;                                                             \
        if (w < 0) {                                                          \
            *missed = 1;                                                      \
            break;                                                            \
        }                                                                     \
        repl[base + w] = ++c;                                                 \
        if (k)                                                                \
            dirty[base + w] = 1;                                              \
        st += k;                                                              \
    }                                                                         \
    *stores += st;                                                            \
    *clk = c;                                                                 \
    return i;                                                                 \
}

MC_STAMP_HITS(mc_stamp_hits8_64, 8, 6, mc_scan8(tags + base, line))
MC_STAMP_HITS(mc_stamp_hits8, 8, bits_, mc_scan8(tags + base, line))
MC_STAMP_HITS(mc_stamp_hits4, 4, bits_, mc_scan4(tags + base, line))
MC_STAMP_HITS(mc_stamp_hits16, 16, bits_, mc_scan16(tags + base, line))
MC_STAMP_HITS(mc_stamp_hits_any, ways, bits_, mc_scan(tags + base, ways, line))

static inline ptrdiff_t mc_stamp_hits(const void *r, ptrdiff_t n, const uint64_t *tags,
                                      uint64_t *repl, uint8_t *dirty, uint64_t set_mask,
                                      ptrdiff_t ways, unsigned bits, unsigned kmax,
                                      uint64_t *clk, uint64_t *stores, int *missed)
{
    const mc_rec_t *rr = (const mc_rec_t *)r;
    *missed = 0;
    switch (ways) {
    case 8:
        if (bits == 6)
            return mc_stamp_hits8_64(rr, n, tags, repl, dirty, set_mask, 8, bits, kmax, clk, stores, missed);
        return mc_stamp_hits8(rr, n, tags, repl, dirty, set_mask, 8, bits, kmax, clk, stores, missed);
    case 4: return mc_stamp_hits4(rr, n, tags, repl, dirty, set_mask, 4, bits, kmax, clk, stores, missed);
    case 16: return mc_stamp_hits16(rr, n, tags, repl, dirty, set_mask, 16, bits, kmax, clk, stores, missed);
    default: return mc_stamp_hits_any(rr, n, tags, repl, dirty, set_mask, ways, bits, kmax, clk, stores, missed);
    }
}


/* ---- the whole loop for one LRU level with memory below ---------------
 *
 * Indices of the counters it updates (memcore/cache.pxd's S_*, CTL_*, G_*;
 * cache.pyx checks at import that they agree).
 */
enum {
    MC_S_RECORDS = 0, MC_S_RMISSES = 4, MC_S_WMISSES = 6, MC_S_FILLS = 7,
    MC_S_CLEAN_EV = 8, MC_S_DIRTY_EV = 9, MC_S_WRITEBACKS = 10,
    MC_CTL_CLOCK = 0, MC_CTL_LAST_REC = 2,
    MC_G_MEM_READS = 4, MC_G_MEM_WRITES = 5
};

/* One LRU, write-back, write-allocate level whose next level is memory, as
 * hier_run sees it. */
typedef struct {
    uint64_t *tags, *repl;
    uint8_t *dirty;
    uint64_t *st, *ctl, *gst;
    uint64_t set_mask;
    ptrdiff_t ways;
    unsigned bits;
} mc_lru_level_t;

/* ---- victim search -----------------------------------------------------
 *
 * The first way with the smallest stamp (LRU and FIFO; invalid ways carry
 * stamp 0, below every valid stamp).  Ties resolve to the lowest way.
 *
 * For 4 and 16 ways the smallest stamp is found first, as a tree of
 * pairwise minima (chains of log2(ways) dependent compares side by side,
 * where a left-to-right scan is one chain of `ways`), then its first way by
 * the tag scan's SSE2 equality compare (mc_scan4/16: the first way holding
 * a value); 8 ways take the scalar scan below (see mc_oldest).
 * Branch-free: which way is oldest is unpredictable on a miss-heavy
 * stream. */
static inline ptrdiff_t mc_oldest_any(const uint64_t *r, ptrdiff_t ways)
{
    ptrdiff_t w, best = 0;
    uint64_t bv = r[0];
    for (w = 1; w < ways; w++) {
        int lower = r[w] < bv;
        bv = lower ? r[w] : bv;
        best = lower ? w : best;
    }
    return best;
}

#ifdef MEMCORE_SSE2

/* GCC reassociates a tree of minima into one chain; an empty asm on the
 * partial minima keeps the tree (it emits nothing). */
#if defined(__GNUC__)
#define MC_KEEP(x) __asm__("" : "+r"(x))
#else
#define MC_KEEP(x) ((void)0)
#endif

/* The smaller of two stamps, kept as a node of the tree. */
static inline uint64_t mc_min2(uint64_t a, uint64_t b)
{
    uint64_t m = b < a ? b : a;
    MC_KEEP(m);
    return m;
}

/* The smallest of the 8 stamps at r, as a tree of independent compares. */
static inline uint64_t mc_min8(const uint64_t *r)
{
    uint64_t a = mc_min2(r[0], r[1]), b = mc_min2(r[2], r[3]);
    uint64_t c = mc_min2(r[4], r[5]), d = mc_min2(r[6], r[7]);
    return mc_min2(mc_min2(a, b), mc_min2(c, d));
}

static inline ptrdiff_t mc_oldest16(const uint64_t *r)
{
    return mc_scan16(r, mc_min2(mc_min8(r), mc_min8(r + 8)));
}

static inline ptrdiff_t mc_oldest4(const uint64_t *r)
{
    return mc_scan4(r, mc_min2(mc_min2(r[0], r[1]), mc_min2(r[2], r[3])));
}

#else

/* The scalar mc_scan_any finds the last equal way, not the first. */
static inline ptrdiff_t mc_oldest4(const uint64_t *r) { return mc_oldest_any(r, 4); }
static inline ptrdiff_t mc_oldest16(const uint64_t *r) { return mc_oldest_any(r, 16); }

#endif

/* With AVX2 (chosen at run time: the module is built for any x86-64) the
 * 16-way searches take four ways per instruction.  AVX2 compares
 * 64-bit integers as signed, so the stamps are compared with their top bit
 * flipped (which orders them as unsigned); the minimum is reduced across
 * the vectors and their lanes, and the first way equal to it is the lowest
 * bit of the equality masks.  Out of line: the rest of the module is not
 * compiled for AVX2. */
#if defined(MEMCORE_SSE2) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__)) && !defined(MEMCORE_NO_AVX2)
#define MEMCORE_AVX2_DISPATCH 1
#include <immintrin.h>

/* Whether mc_oldest may use AVX2: set by mc_cpu_init (0 until then). */
static int mc_use_avx2 = 0;

static inline void mc_cpu_init(void)
{
    __builtin_cpu_init();
    mc_use_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
}

#define MC_AVX2 __attribute__((target("avx2")))

/* Of four stamps (top bits flipped) per vector: the smaller of each pair. */
MC_AVX2 static inline __m256i mc_min4x(__m256i a, __m256i b)
{
    return _mm256_blendv_epi8(a, b, _mm256_cmpgt_epi64(a, b));
}

/* The smallest of the four lanes of m, in every lane. */
MC_AVX2 static inline __m256i mc_hmin4x(__m256i m)
{
    __m128i lo = _mm256_castsi256_si128(m), hi = _mm256_extracti128_si256(m, 1);
    __m128i x = _mm_blendv_epi8(lo, hi, _mm_cmpgt_epi64(lo, hi));
    __m128i y = _mm_unpackhi_epi64(x, x);
    x = _mm_blendv_epi8(x, y, _mm_cmpgt_epi64(x, y));
    return _mm256_broadcastq_epi64(x);
}

/* 4-bit mask of the lanes of a equal to b. */
MC_AVX2 static inline unsigned mc_eq4x(__m256i a, __m256i b)
{
    return (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(a, b)));
}

MC_AVX2 MC_NOINLINE static ptrdiff_t mc_oldest16_avx2(const uint64_t *r)
{
    const __m256i top = _mm256_set1_epi64x((long long)0x8000000000000000ULL);
    __m256i a = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)r), top);
    __m256i b = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)r + 1), top);
    __m256i c = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)r + 2), top);
    __m256i d = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)r + 3), top);
    __m256i m = mc_hmin4x(mc_min4x(mc_min4x(a, b), mc_min4x(c, d)));
    return __builtin_ctz(mc_eq4x(a, m) | mc_eq4x(b, m) << 4 | mc_eq4x(c, m) << 8 |
                         mc_eq4x(d, m) << 12);
}

/* mc_scan16 four ways per compare. */
MC_AVX2 MC_NOINLINE static ptrdiff_t mc_scan16_avx2(const uint64_t *t, uint64_t line)
{
    __m256i k = _mm256_set1_epi64x((long long)line);
    unsigned m = mc_eq4x(_mm256_loadu_si256((const __m256i *)t), k) |
                 mc_eq4x(_mm256_loadu_si256((const __m256i *)t + 1), k) << 4 |
                 mc_eq4x(_mm256_loadu_si256((const __m256i *)t + 2), k) << 8 |
                 mc_eq4x(_mm256_loadu_si256((const __m256i *)t + 3), k) << 12;
    return m ? (ptrdiff_t)__builtin_ctz(m) : -1;
}

#define MC_OLDEST16(r) (mc_use_avx2 ? mc_oldest16_avx2(r) : mc_oldest16(r))
#define MC_SCAN16(t, line) (mc_use_avx2 ? mc_scan16_avx2(t, line) : mc_scan16(t, line))

#else

static inline void mc_cpu_init(void) {}
#define MC_OLDEST16(r) mc_oldest16(r)
#define MC_SCAN16(t, line) mc_scan16(t, line)

#endif

/* mc_scan for the all-LRU miss path, whose lower levels are mostly 16-way
 * (AVX2 there where the host has it).  The hit loops keep the inline SSE2
 * scan: for them a call would cost more than it saves. */
MC_ALWAYS_INLINE ptrdiff_t mc_find(const uint64_t *t, ptrdiff_t ways, uint64_t line)
{
    if (ways == 16)
        return MC_SCAN16(t, line);
    return mc_scan(t, ways, line);
}

/* The first way with the smallest stamp of the set at r.  Eight ways take
 * the scalar search: with the vector one the one-level lackey loop (hits
 * restamp the set 8 bytes at a time, a miss then reads the stamps 16 bytes
 * at a time, which store forwarding cannot serve) ran at 142 M records/s
 * against 192, at the same instruction count. */
static inline ptrdiff_t mc_oldest(const uint64_t *r, ptrdiff_t ways)
{
    switch (ways) {
    case 8: return mc_oldest_any(r, 8);
    case 16: return MC_OLDEST16(r);
    case 4: return mc_oldest4(r);
    case 2: return r[1] < r[0];
    case 1: return 0;
    default: return mc_oldest_any(r, ways);
    }
}

/* A single-line miss of such a level (see MC_LRU_RUN); returns the way
 * the line was installed in.  Out of line: it is rare, and inlined its
 * variables would crowd the hit loop's registers. */
static MC_NOINLINE ptrdiff_t mc_lru_fill(const mc_lru_level_t *L, ptrdiff_t base,
                                         ptrdiff_t ways, uint64_t line, unsigned k,
                                         uint64_t cur)
{
    ptrdiff_t w = mc_oldest(L->repl + base, ways);
    uint64_t v = L->tags[base + w];
    if (v != ~(uint64_t)0) {
        if (L->dirty[base + w]) {
            L->st[MC_S_DIRTY_EV]++;
            L->st[MC_S_WRITEBACKS]++;
            L->gst[MC_G_MEM_WRITES]++;
        } else {
            L->st[MC_S_CLEAN_EV]++;
        }
    }
    if (L->ctl[MC_CTL_LAST_REC] != cur) {
        L->ctl[MC_CTL_LAST_REC] = cur;
        L->st[MC_S_RECORDS]++;
    }
    L->st[k ? MC_S_WMISSES : MC_S_RMISSES]++;
    L->st[MC_S_FILLS]++;
    L->gst[MC_G_MEM_READS]++;
    L->tags[base + w] = line;
    L->dirty[base + w] = 0;
    return w;
}

/* Like MC_STAMP_HITS for loads and stores, and a single-line miss is
 * handled here too, exactly as hier_access handles it in the default mode
 * for such a level: the line is read from memory, the oldest way is the
 * victim (a dirty one is written to memory), the line is installed (dirty
 * for a store) with the next stamp, and the record is counted once at the
 * level (rec0 + i + 1 is its record id).  Returns the number of records
 * consumed; *stores counts the store hits and *misses the misses among
 * them (the rest are load hits).  BITS is the line size's log2, a
 * constant in the common case. */
#define MC_LRU_RUN(NAME, WAYS, BITS, SCAN)                                    \
static MC_NOINLINE ptrdiff_t NAME(const mc_lru_level_t *L, const mc_rec_t *r, \
                                  ptrdiff_t n, uint64_t rec0, uint64_t *clk,  \
                                  uint64_t *stores, uint64_t *misses)         \
{                                                                             \
    const uint64_t *tags = L->tags;                                           \
    uint64_t *repl = L->repl;                                                 \
    uint8_t *dirty = L->dirty;                                                \
    uint64_t set_mask = L->set_mask;                                          \
    const unsigned bits = (BITS);                                             \
    ptrdiff_t ways = L->ways;                                                 \
    uint64_t c = *clk, st = 0, ms = 0, lsize = (uint64_t)1 << bits;           \
    ptrdiff_t i, base, w;                                                     \
    (void)ways;                                                               \
    for (i = 0; i < n; i++) {                                                 \
        uint64_t a = r[i].addr, line = a >> bits;                             \
        unsigned k = (unsigned)r[i].kind - 1u;                                \
        if (!((k <= 1u) & ((a & (lsize - 1)) + r[i].size <= lsize)))          \
            break;                                                            \
        base = (ptrdiff_t)(line & set_mask) * (WAYS);                         \
        w = SCAN;                                                             \
        if (w < 0) {                                                          \
            w = mc_lru_fill(L, base, (WAYS), line, k, rec0 + (uint64_t)i + 1); \
            ms++;                                                             \
            st -= k; /* counted below as a hit store; undo */                 \
        }                                                                     \
        repl[base + w] = ++c;                                                 \
        if (k)                                                                \
            dirty[base + w] = 1;                                              \
        st += k;                                                              \
    }                                                                         \
    *stores += st;                                                            \
    *misses += ms;                                                            \
    *clk = c;                                                                 \
    return i;                                                                 \
}

MC_LRU_RUN(mc_lru_run8_64, 8, 6, mc_scan8(tags + base, line))
MC_LRU_RUN(mc_lru_run8, 8, L->bits, mc_scan8(tags + base, line))
MC_LRU_RUN(mc_lru_run4, 4, L->bits, mc_scan4(tags + base, line))
MC_LRU_RUN(mc_lru_run16, 16, L->bits, mc_scan16(tags + base, line))
MC_LRU_RUN(mc_lru_run_any, ways, L->bits, mc_scan(tags + base, ways, line))

static inline ptrdiff_t mc_lru_run(const mc_lru_level_t *L, const void *r, ptrdiff_t n,
                                   uint64_t rec0, uint64_t *clk, uint64_t *stores,
                                   uint64_t *misses)
{
    const mc_rec_t *rr = (const mc_rec_t *)r;
    switch (L->ways) {
    case 8:
        if (L->bits == 6)
            return mc_lru_run8_64(L, rr, n, rec0, clk, stores, misses);
        return mc_lru_run8(L, rr, n, rec0, clk, stores, misses);
    case 4: return mc_lru_run4(L, rr, n, rec0, clk, stores, misses);
    case 16: return mc_lru_run16(L, rr, n, rec0, clk, stores, misses);
    default: return mc_lru_run_any(L, rr, n, rec0, clk, stores, misses);
    }
}

/* ---- prefetch ------------------------------------------------------------
 *
 * Ask the host to start loading the state of the set at `base` -- tags,
 * stamps and dirty bytes (a hint: it changes no state of the
 * model).  A set of more than 8 ways spans two 64-byte host lines of tags
 * and of stamps. */
static inline void mc_prefetch_set(const uint64_t *tags, const uint64_t *repl,
                                   const uint8_t *dirty, ptrdiff_t base, ptrdiff_t ways)
{
#if defined(__GNUC__)
    __builtin_prefetch(tags + base);
    __builtin_prefetch(repl + base);
    if (ways > 8) {
        __builtin_prefetch(tags + base + ways - 1);
        __builtin_prefetch(repl + base + ways - 1);
    }
    __builtin_prefetch(dirty + base);
#else
    (void)tags; (void)repl; (void)dirty; (void)base; (void)ways;
#endif
}

/* ---- trace validation --------------------------------------------------
 *
 * The largest `kind` among n records: the byte-wise maximum of the
 * records themselves (one SSE2 max per 16-byte record, no branch), read at
 * the kind's offset.  A bad trace is then searched record by record. */
static inline unsigned mc_max_kind(const void *r, ptrdiff_t n)
{
    const mc_rec_t *rr = (const mc_rec_t *)r;
    ptrdiff_t i = 0;
    unsigned m = 0;
#ifdef MEMCORE_SSE2
    __m128i a = _mm_setzero_si128(), b = a, c = a, d = a;
    unsigned char col[16];
    for (; i + 4 <= n; i += 4) {
        a = _mm_max_epu8(a, _mm_loadu_si128((const __m128i *)(rr + i)));
        b = _mm_max_epu8(b, _mm_loadu_si128((const __m128i *)(rr + i + 1)));
        c = _mm_max_epu8(c, _mm_loadu_si128((const __m128i *)(rr + i + 2)));
        d = _mm_max_epu8(d, _mm_loadu_si128((const __m128i *)(rr + i + 3)));
    }
    _mm_storeu_si128((__m128i *)col, _mm_max_epu8(_mm_max_epu8(a, b), _mm_max_epu8(c, d)));
    m = col[offsetof(mc_rec_t, kind)];
#endif
    for (; i < n; i++)
        m = rr[i].kind > m ? rr[i].kind : m;
    return m;
}

#endif
