/* munmap-frees-page-tables.vms: munmap frees a page-table page when no VMA is left anywhere in the range it covers
 * (Linux free_pgtables: floor the end of the VMA before the hole, ceiling the start of the one after). Read from
 * VmPTE in /proc/self/status (this process's page-table pages, in kB) before and after each munmap.
 * All four cases sit in one PROT_NONE reservation, at 2 MiB-aligned slots past its start, so every mapping has a
 * neighbour VMA in the same 1 GiB: only last-level tables (one per 2 MiB) can be freed.
 *   whole:    a 2 MiB region alone in its 2 MiB slot, all of it unmapped         -> its table is freed
 *   half:     the first half of such a region unmapped, the other half stays     -> kept
 *   neighbour: a 1 MiB region beside another VMA in the same slot, unmapped       -> kept
 *   alone:    a 1 MiB region whose slot's other half is a hole, unmapped         -> freed
 */
#include "oracle.h"

#define MIB (1024UL * 1024)

/* VmPTE in kB, read with one read() into a stack buffer so nothing is allocated between two readings. */
static long vmpte_kb(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) die("open /proc/self/status");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0) die("read /proc/self/status");
    close(fd);
    buf[n] = 0;
    char *line = strstr(buf, "VmPTE:");
    if (line == NULL) die("VmPTE in /proc/self/status");
    return strtol(line + 6, NULL, 10);
}

static char *map_at(char *at, size_t bytes, int prot)
{
    char *p = mmap(at, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != at) die("mmap fixed");
    return p;
}

static void touch(volatile char *p, size_t bytes)
{
    for (size_t i = 0; i < bytes; i += PAGE) p[i] = 0x5a;
}

/* Page-table pages freed by munmap(at, bytes): VmPTE's drop in pages. */
static long freed_by_munmap(char *at, size_t bytes)
{
    long before = vmpte_kb();
    if (munmap(at, bytes) != 0) die("munmap");
    long after = vmpte_kb();
    return (before - after) / 4;
}

int main(void)
{
    pin();
    char *r = mmap(NULL, 20 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) die("mmap reservation");
    char *b = (char *)((((uintptr_t)r + 2 * MIB - 1) & ~(2 * MIB - 1)) + 2 * MIB);

    char *whole = map_at(b, 2 * MIB, PROT_READ | PROT_WRITE);
    touch(whole, 2 * MIB);
    char *half = map_at(b + 4 * MIB, 2 * MIB, PROT_READ | PROT_WRITE);
    touch(half, 2 * MIB);
    char *near = map_at(b + 8 * MIB, 1 * MIB, PROT_READ | PROT_WRITE);
    touch(near, 1 * MIB);
    char *other = map_at(b + 9 * MIB, 1 * MIB, PROT_READ);
    for (size_t i = 0; i < 1 * MIB; i += PAGE) (void)((volatile char *)other)[i];
    if (munmap(b + 13 * MIB, 1 * MIB) != 0) die("munmap hole");
    char *alone = map_at(b + 12 * MIB, 1 * MIB, PROT_READ | PROT_WRITE);
    touch(alone, 1 * MIB);

    long f_whole = freed_by_munmap(whole, 2 * MIB);
    long f_half = freed_by_munmap(half, 1 * MIB);
    long f_near = freed_by_munmap(near, 1 * MIB);
    long f_alone = freed_by_munmap(alone, 1 * MIB);
    printf("whole.tables_freed %ld\nhalf.tables_freed %ld\nneighbour.tables_freed %ld\nalone.tables_freed %ld\n",
           f_whole, f_half, f_near, f_alone);
    return 0;
}
