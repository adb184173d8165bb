/* memcore/_tlbfast.h -- the set scans of a TLB level (memcore.tlb).
 *
 * Beside its entries a level keeps one tag byte per entry (tlb_t.tags): 0
 * for a free way, else a hash of the entry's (vpn, shift) with the top bit
 * set.  One SSE2 byte compare tells which of 16 ways may map a page at a size
 * (the few candidates are then checked against the entry itself) and which
 * ways are free, without a branch per way.  For LRU and FIFO a level also
 * keeps one rank byte per entry (tlb_t.ranks): the ways of a set ordered by
 * stamp, 0 the oldest; the victim is the way of rank 0.
 *
 * The tag and rank arrays are padded with 16 bytes so that a 16-byte load
 * at any way stays inside them; the lanes past the set are masked off (and
 * stored back unchanged).
 */
#ifndef MEMCORE_TLBFAST_H
#define MEMCORE_TLBFAST_H

#include <stdint.h>
#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define MEMCORE_TLB_SSE2 1
#endif

/* Bytes of padding after the tag and rank arrays. */
#define MEMCORE_TLB_PAD 16

#if defined(_MSC_VER)
#include <intrin.h>
static inline int memcore_tlb_ctz64(unsigned long long x) { unsigned long i; _BitScanForward64(&i, x); return (int)i; }
static inline int memcore_tlb_msb64(unsigned long long x) { unsigned long i; _BitScanReverse64(&i, x); return (int)i; }
#else
static inline int memcore_tlb_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
static inline int memcore_tlb_msb64(unsigned long long x) { return 63 - __builtin_clzll(x); }
#endif

#ifdef MEMCORE_TLB_SSE2
/* 16 copies of byte b (movd + pshufd). */
static inline __m128i memcore_splat8(uint8_t b)
{
    return _mm_set1_epi32((int)((uint32_t)b * 0x01010101u));
}
#endif

/* The tag of the page `vpn` at size 1 << shift: never 0 (a free way). */
static inline uint8_t memcore_tlb_tag(uint64_t vpn, int shift)
{
    uint64_t h = ((vpn << 6) | (uint64_t)shift) * 0x9E3779B97F4A7C15ULL;
    return (uint8_t)((h >> 57) | 0x80);
}

/* Lanes 0..n-1 of a 16-lane mask (n <= 16). */
static inline uint32_t memcore_lanes(intptr_t n)
{
    return (uint32_t)((1U << n) - 1);
}

/* Bit i set (i < n <= 16): p[i] == b. */
static inline uint32_t memcore_bytes_eq(const uint8_t* p, intptr_t n, uint8_t b)
{
#ifdef MEMCORE_TLB_SSE2
    __m128i v = _mm_loadu_si128((const __m128i*)p);
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, memcore_splat8(b))) & memcore_lanes(n);
#else
    uint32_t m = 0;
    intptr_t i;
    for (i = 0; i < n; i++)
        m |= (uint32_t)(p[i] == b) << i;
    return m;
#endif
}

/* Bit i set: p[i] == b, for the lanes set in `lanes` (a mask of lanes 0..15). */
static inline uint32_t memcore_bytes_eq_in(const uint8_t* p, uint32_t lanes, uint8_t b)
{
#ifdef MEMCORE_TLB_SSE2
    __m128i v = _mm_loadu_si128((const __m128i*)p);
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, memcore_splat8(b))) & lanes;
#else
    uint32_t m = 0;
    int i;
    for (i = 0; i < 16; i++)
        m |= (uint32_t)(((lanes >> i) & 1) && p[i] == b) << i;
    return m;
#endif
}

/* Both masks of one load (i < n <= 16): p[i] == b, and p[i] == 0. */
static inline void memcore_bytes_eq2(const uint8_t* p, intptr_t n, uint8_t b, uint32_t* same,
                                     uint32_t* zero)
{
#ifdef MEMCORE_TLB_SSE2
    __m128i v = _mm_loadu_si128((const __m128i*)p);
    uint32_t lanes = memcore_lanes(n);
    *same = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, memcore_splat8(b))) & lanes;
    *zero = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) & lanes;
#else
    uint32_t s = 0, z = 0;
    intptr_t i;
    for (i = 0; i < n; i++) {
        s |= (uint32_t)(p[i] == b) << i;
        z |= (uint32_t)(p[i] == 0) << i;
    }
    *same = s;
    *zero = z;
#endif
}

/* First n bytes 0xFF, the rest 0: load 16 bytes at memcore_lane_bytes + 16 - n. */
static const uint8_t memcore_lane_bytes[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

/* Ranks of a set of n <= 64 ways (a permutation of 0..n-1, 0 the oldest):
 * make way w the newest (rank n-1); the ways newer than it move down one. */
static inline void memcore_rank_newest(uint8_t* r, intptr_t n, intptr_t w)
{
    uint8_t old = r[w];
    intptr_t base, k;
#ifdef MEMCORE_TLB_SSE2
    const __m128i o = memcore_splat8(old);
    __m128i v, newer;
    if (n <= 16) {
        /* the usual set: one vector */
        v = _mm_loadu_si128((const __m128i*)r);
        newer = _mm_and_si128(_mm_cmpgt_epi8(v, o),
                              _mm_loadu_si128((const __m128i*)(memcore_lane_bytes + 16 - n)));
        _mm_storeu_si128((__m128i*)r, _mm_add_epi8(v, newer));
        r[w] = (uint8_t)(n - 1);
        return;
    }
    for (base = 0; base < n; base += 16) {
        k = n - base < 16 ? n - base : 16;
        v = _mm_loadu_si128((const __m128i*)(r + base));
        /* ranks are < 128: a signed byte compare orders them */
        newer = _mm_and_si128(_mm_cmpgt_epi8(v, o),
                              _mm_loadu_si128((const __m128i*)(memcore_lane_bytes + 16 - k)));
        _mm_storeu_si128((__m128i*)(r + base), _mm_add_epi8(v, newer));   /* -1 where newer */
    }
#else
    (void)k;
    for (base = 0; base < n; base++)
        r[base] -= (uint8_t)(r[base] > old);
#endif
    r[w] = (uint8_t)(n - 1);
}

/* The way of rank 0 in a set of n <= 64 ways. */
static inline intptr_t memcore_rank_oldest(const uint8_t* r, intptr_t n)
{
    intptr_t base;
    uint32_t m;
    for (base = 0; base < n; base += 16) {
        m = memcore_bytes_eq(r + base, n - base < 16 ? n - base : 16, 0);
        if (m)
            return base + memcore_tlb_ctz64(m);
    }
    return 0;
}

#endif
