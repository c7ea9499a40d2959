/* The C reference model of bench/run-trace-benchmark.sh: a Valgrind Lackey trace (text) through a fully-associative
 * LRU TLB of 4 KiB pages, as plain as a hand-written simulator is. It parses each line (" L addr,size", " S", " M",
 * "I  addr,size"; anything else is skipped), counts an M as a read then a write, splits an access that crosses a page
 * into one lookup per page, and keeps exact LRU order with a hash table over a doubly-linked list.
 *
 *   gcc -O2 -o lru-model bench/lru-model.c && ./lru-model trace.lackey [entries] [pages.oracleGeneral]
 *
 * Prints: accesses, lookups, hits, misses. With a third argument it also writes the page stream it looked up in
 * libCacheSim's oracleGeneral binary format (per request: u32 time, u64 object id = page, u32 size = 1, i64 next access
 * = -1), so that libCacheSim's LRU can run over the same stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_BITS 12
#define HASH_SIZE (1u << HASH_BITS)

typedef struct { uint64_t page; int prev, next, chain; } entry;

static entry *e;
static int head = -1, tail = -1, used, capacity;
static int bucket[HASH_SIZE];
static uint64_t hits, misses, lookups;

static unsigned hash(uint64_t page) { return (unsigned)((page * 0x9E3779B97F4A7C15ull) >> (64 - HASH_BITS)); }

static void unlink_entry(int i) {
    if (e[i].prev >= 0) e[e[i].prev].next = e[i].next; else head = e[i].next;
    if (e[i].next >= 0) e[e[i].next].prev = e[i].prev; else tail = e[i].prev;
}

static void push_head(int i) {
    e[i].prev = -1; e[i].next = head;
    if (head >= 0) e[head].prev = i;
    head = i;
    if (tail < 0) tail = i;
}

static void unchain(int i) {
    int *p = &bucket[hash(e[i].page)];
    while (*p != i) p = &e[*p].chain;
    *p = e[i].chain;
}

static FILE *oracle;

static void lookup(uint64_t page) {
    if (oracle) {
        struct __attribute__((packed)) { uint32_t time; uint64_t id; uint32_t size; int64_t next; } r = { (uint32_t)lookups, page, 1, -1 };
        fwrite(&r, sizeof r, 1, oracle);
    }
    lookups++;
    unsigned h = hash(page);
    for (int i = bucket[h]; i >= 0; i = e[i].chain)
        if (e[i].page == page) {
            hits++;
            if (head != i) { unlink_entry(i); push_head(i); }
            return;
        }
    misses++;
    int i;
    if (used < capacity) i = used++;
    else { i = tail; unlink_entry(i); unchain(i); }
    e[i].page = page;
    e[i].chain = bucket[h];
    bucket[h] = i;
    push_head(i);
}

static void access_range(uint64_t addr, uint64_t size) {
    uint64_t first = addr >> 12, last = (addr + (size ? size : 1) - 1) >> 12;
    for (uint64_t p = first; p <= last; p++) lookup(p);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: lru-model trace.lackey [entries]\n"); return 2; }
    capacity = argc > 2 ? atoi(argv[2]) : 64;
    if (argc > 3 && !(oracle = fopen(argv[3], "wb"))) { perror(argv[3]); return 2; }
    e = calloc((size_t)capacity, sizeof *e);
    memset(bucket, -1, sizeof bucket);
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 2; }
    static char buf[1 << 16];
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    uint64_t accesses = 0;
    while (fgets(buf, sizeof buf, f)) {
        char kind; const char *s;
        if (buf[0] == 'I' && buf[1] == ' ') { kind = 'I'; s = buf + 2; }
        else if (buf[0] == ' ' && (buf[1] == 'L' || buf[1] == 'S' || buf[1] == 'M') && buf[2] == ' ') { kind = buf[1]; s = buf + 3; }
        else continue;
        while (*s == ' ') s++;
        uint64_t addr = 0, size = 0;
        for (;; s++) {
            unsigned c = (unsigned char)*s, d;
            if (c - '0' < 10) d = c - '0'; else if ((c | 32) - 'a' < 6) d = (c | 32) - 'a' + 10; else break;
            addr = addr << 4 | d;
        }
        if (*s++ != ',') continue;
        for (; (unsigned)(*s - '0') < 10; s++) size = size * 10 + (uint64_t)(*s - '0');
        access_range(addr, size);
        accesses++;
        if (kind == 'M') { access_range(addr, size); accesses++; }
    }
    fclose(f);
    if (oracle) fclose(oracle);
    printf("accesses %llu lookups %llu hits %llu misses %llu\n", (unsigned long long)accesses, (unsigned long long)lookups,
           (unsigned long long)hits, (unsigned long long)misses);
    return 0;
}
