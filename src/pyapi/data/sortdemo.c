/* sortdemo: the small real program whose memory trace ships with memcore.
 *
 * Fills an array with pseudo-random integers (a fixed-seed xorshift, so every
 * run makes the same accesses), sorts it with a bottom-up merge sort through a
 * scratch buffer, checks the result and prints a checksum.
 *
 * Usage: sortdemo N   (number of elements, default 4096)
 */
#include <stdio.h>
#include <stdlib.h>

static unsigned int xorshift32(unsigned int *state)
{
    unsigned int x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static void merge_sort(int *a, int *tmp, long n)
{
    for (long width = 1; width < n; width *= 2) {
        for (long lo = 0; lo < n; lo += 2 * width) {
            long mid = lo + width < n ? lo + width : n;
            long hi = lo + 2 * width < n ? lo + 2 * width : n;
            long i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = a[i] <= a[j] ? a[i++] : a[j++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        int *swap = a; a = tmp; tmp = swap;
        for (long i = 0; i < n; i++)   /* copy back so `a` holds the pass */
            tmp[i] = a[i];
        swap = a; a = tmp; tmp = swap;
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 4096;
    int *a = malloc(n * sizeof *a), *tmp = malloc(n * sizeof *tmp);
    if (!a || !tmp)
        return 1;
    unsigned int state = 2463534242u;
    for (long i = 0; i < n; i++)
        a[i] = (int)(xorshift32(&state) % 1000000);
    merge_sort(a, tmp, n);
    unsigned long sum = 0;
    for (long i = 0; i < n; i++) {
        if (i && a[i - 1] > a[i]) {
            fprintf(stderr, "not sorted at %ld\n", i);
            return 1;
        }
        sum = sum * 31 + (unsigned long)a[i];
    }
    printf("sorted %ld ints, checksum %lx\n", n, sum);
    free(a);
    free(tmp);
    return 0;
}
