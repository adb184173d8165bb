/* A yardstick for the cache engine's miss path (docs/guide/cache.rst,
 * "Random access"): the straightforward C for the x86-64 preset's data
 * caches -- L1D 32 KiB 8-way, L2 1 MiB 16-way, L3 32 MiB 16-way, 64-byte
 * lines, all LRU with use stamps, linear scans, loads only, no dirty
 * state -- run on 2 M random line addresses over a span (xorshift, not
 * numpy's generator: the same kind of trace, not the same records).
 *
 * Usage: gcc -O2 -o minimal_hierarchy bench/minimal_hierarchy.c
 *        ./minimal_hierarchy SPAN_MIB [PREFETCH_AHEAD]
 * Prints the rate over three timed passes after a warm one (CPU time) and
 * the misses per level; PREFETCH_AHEAD > 0 prefetches the L2 and L3 sets
 * of the record that many places ahead.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef struct { uint64_t *tags, *repl; uint8_t *dirty, *valid; uint64_t mask; int ways; uint64_t clk, misses; } lv_t;
static lv_t mk(size_t size, int ways){ lv_t L; size_t lines=size/64; L.ways=ways; L.mask=lines/ways-1;
 L.tags=malloc(lines*8); memset(L.tags,0xff,lines*8); L.repl=calloc(lines,8); L.dirty=calloc(lines,1); L.valid=calloc(lines,1); L.clk=0; L.misses=0; return L;}
static inline long scan(const uint64_t*t,int ways,uint64_t line){ long f=-1; for(int w=0;w<ways;w++) f = t[w]==line? w: f; return f;}
static inline long oldest(const uint64_t*r,int ways){ long b=0; uint64_t bv=r[0]; for(int w=1;w<ways;w++){int l=r[w]<bv; bv=l?r[w]:bv; b=l?w:b;} return b;}
static int access3(lv_t*L, int n, uint64_t line){
  int lvl; long base[3], w;
  for(lvl=0;lvl<n;lvl++){ base[lvl]=(long)(line&L[lvl].mask)*L[lvl].ways; w=scan(L[lvl].tags+base[lvl],L[lvl].ways,line); if(w>=0){L[lvl].repl[base[lvl]+w]=++L[lvl].clk; break;} L[lvl].misses++; }
  for(int k=lvl-1;k>=0;k--){ long v=base[k]+oldest(L[k].repl+base[k],L[k].ways); L[k].tags[v]=line; L[k].valid[v]=1; L[k].dirty[v]=0; L[k].repl[v]=++L[k].clk; }
  return lvl;
}
int main(int argc,char**argv){ size_t span=(size_t)atol(argv[1])<<20; int pf=argc>2?atoi(argv[2]):0; int n=2000000;
 uint64_t*tr=malloc(n*8); uint64_t s=88172645463325252ull; for(int i=0;i<n;i++){s^=s<<13;s^=s>>7;s^=s<<17; tr[i]=(0x1000000000ull+(s%(span/8))*8)>>6;}
 lv_t L[3]={mk(32<<10,8),mk(1<<20,16),mk(32<<20,16)};
 for(int i=0;i<n;i++) access3(L,3,tr[i]);
 struct timespec a,b; clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&a);
 for(int rep=0;rep<3;rep++) for(int i=0;i<n;i++){ if(pf && i+pf<n){ uint64_t l=tr[i+pf]; for(int k=1;k<3;k++){ long bs=(long)(l&L[k].mask)*L[k].ways; __builtin_prefetch(L[k].tags+bs); __builtin_prefetch(L[k].tags+bs+8); __builtin_prefetch(L[k].repl+bs); __builtin_prefetch(L[k].repl+bs+8);} } access3(L,3,tr[i]); }
 clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&b); double t=(b.tv_sec-a.tv_sec)+(b.tv_nsec-a.tv_nsec)*1e-9;
 printf("span %zu MiB pf %d: %.1f M/s (%.0f ns)  misses %lu %lu %lu\n", span>>20, pf, 3*n/t/1e6, t/(3*n)*1e9, L[0].misses,L[1].misses,L[2].misses); }
