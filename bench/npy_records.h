/* Reading an ACCESS_DTYPE .npy trace (16-byte records, .npy format 1.0)
 * into memory, for the C yardsticks of bench/ (minimal_lru.c,
 * minimal_pipeline.c).  Header only: each yardstick is one gcc command. */
#ifndef MEMCORE_BENCH_NPY_RECORDS_H
#define MEMCORE_BENCH_NPY_RECORDS_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { uint64_t addr; uint8_t size, kind; uint16_t cpu; uint32_t pid; } rec_t;

/* The records of `path` (malloc'd; *n set), or NULL after a message on stderr. */
static rec_t *read_records(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    unsigned char head[10];
    if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6)) {
        fprintf(stderr, "%s: not .npy\n", path); fclose(f); return NULL;
    }
    long hlen = head[6] == 1 ? (head[8] | head[9] << 8) + 10 : -1;
    if (hlen < 0) { fprintf(stderr, "%s: only .npy format 1.0\n", path); fclose(f); return NULL; }
    fseek(f, 0, SEEK_END);
    *n = (ftell(f) - hlen) / (long)sizeof(rec_t);
    fseek(f, hlen, SEEK_SET);
    rec_t *t = malloc(*n * sizeof(rec_t) + 1);
    if (!t || fread(t, sizeof(rec_t), *n, f) != (size_t)*n) {
        fprintf(stderr, "%s: read failed\n", path); free(t); fclose(f); return NULL;
    }
    fclose(f);
    return t;
}
#endif
