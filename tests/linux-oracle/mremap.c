/* mremap.vms: mremap moves page-table entries, it does not copy pages. Growing 4 written pages into free space after
 * them stays in place (the same address), and the 4 old pages are read with no fault; without MREMAP_MAYMOVE, growth
 * blocked by a mapping right after is -ENOMEM; with it the mapping moves: the old address is unmapped (SIGSEGV
 * SEGV_MAPERR) and the moved pages are present and read with no fault. Shrinking keeps the address and unmaps the
 * tail. MREMAP_FIXED moves to the given address, replacing what was there. MREMAP_DONTUNMAP moves the pages and
 * leaves the old range mapped and empty: a read there is zero after one fault. Bad arguments: an unaligned address,
 * unknown flags, a new length of 0, FIXED or DONTUNMAP without MAYMOVE, DONTUNMAP with a new length, a FIXED target
 * overlapping the source: -EINVAL; an address no VMA maps, or an old range past its VMA's end: -EFAULT. */
#include "oracle.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static char *reserve(size_t pages)
{
    char *p = mmap(NULL, pages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) die("mmap reserve");
    if (munmap(p, pages * PAGE) != 0) die("munmap reserve");
    return p;
}

static char *anon_at(char *at, size_t pages)
{
    char *p = mmap(at, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != at) die("mmap at");
    if (madvise(p, pages * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise(MADV_NOHUGEPAGE)");
    return p;
}

static long remap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
    void *r = mremap(old, old_len, new_len, flags, new_addr);
    return r == MAP_FAILED ? -(long)errno : (long)(uintptr_t)r;
}

static void write_pages(char *a, size_t pages, int v)
{
    for (size_t i = 0; i < pages; i++) ((volatile char *)a)[i * PAGE] = (char)(v + i);
}

/* Reads the first byte of each page; the minor faults that took, and in *last the byte of the last page. */
static long read_faults(char *a, size_t pages, long *last)
{
    struct faults before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < pages; i++) *last = ((volatile char *)a)[i * PAGE];
    return faults_since(before).minflt;
}

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    long last = 0;
    char *space = reserve(64);

    char *a = anon_at(space, 4);
    write_pages(a, 4, 0x10);
    long r = remap(a, 4 * PAGE, 8 * PAGE, 0, NULL);
    long fl = read_faults(a, 4, &last);
    printf("grow.ret_is_old %ld\ngrow.old_minflt %ld\ngrow.value %ld\ngrow.new_resident %ld\n", (long)(r == (long)(uintptr_t)a),
           fl, last, pages_with(0, a + 4 * PAGE, 4, PM_PRESENT));

    anon_at(a + 8 * PAGE, 1); /* blocks further growth in place */
    printf("blocked.ret %ld\n", remap(a, 8 * PAGE, 12 * PAGE, 0, NULL));
    r = remap(a, 8 * PAGE, 12 * PAGE, MREMAP_MAYMOVE, NULL);
    char *b = (char *)(uintptr_t)r;
    printf("moved %ld\n", (long)(r > 0 && b != a));
    fl = read_faults(b, 4, &last);
    printf("moved.minflt %ld\nmoved.value %ld\nmoved.resident %ld\n", fl, last, pages_with(0, b, 12, PM_PRESENT));
    caught_signo = 0;
    if (sigsetjmp(caught_at, 1) == 0) (void)((volatile char *)a)[PAGE];
    printf("old.signal.signo %d\nold.signal.code %d\nold.signal.addr_in_page %lu\nold.signal.addr_is_fault %d\n",
           (int)caught_signo, caught_code, (unsigned long)((uintptr_t)caught_addr % PAGE), caught_addr == (void *)(a + PAGE));

    r = remap(b, 12 * PAGE, 2 * PAGE, 0, NULL);
    printf("shrink.ret_is_old %ld\nshrink.resident %ld\n", (long)(r == (long)(uintptr_t)b), pages_with(0, b, 2, PM_PRESENT));
    caught_signo = 0;
    if (sigsetjmp(caught_at, 1) == 0) (void)((volatile char *)b)[3 * PAGE];
    printf("shrunk.signal.signo %d\nshrunk.signal.code %d\nshrunk.signal.addr_in_page %lu\nshrunk.signal.addr_is_fault %d\n",
           (int)caught_signo, caught_code, (unsigned long)((uintptr_t)caught_addr % PAGE), caught_addr == (void *)(b + 3 * PAGE));

    char *t = anon_at(space + 40 * PAGE, 2);
    write_pages(t, 2, 0x70);
    r = remap(b, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, t);
    fl = read_faults(t, 2, &last);
    printf("fixed.ret_is_target %ld\nfixed.minflt %ld\nfixed.value %ld\n", (long)(r == (long)(uintptr_t)t), fl, last);

    char *d = anon_at(space + 20 * PAGE, 2);
    write_pages(d, 2, 0x30);
    r = remap(d, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    char *e = (char *)(uintptr_t)r;
    fl = read_faults(e, 2, &last);
    printf("dontunmap.moved %ld\ndontunmap.minflt %ld\ndontunmap.value %ld\n", (long)(r > 0 && e != d), fl, last);
    printf("dontunmap.old_resident %ld\n", pages_with(0, d, 2, PM_PRESENT));
    fl = read_faults(d, 1, &last);
    printf("dontunmap.old_minflt %ld\ndontunmap.old_value %ld\n", fl, last);

    char *g = anon_at(space + 30 * PAGE, 4);
    printf("unaligned.ret %ld\n", remap(g + 1, PAGE, 2 * PAGE, MREMAP_MAYMOVE, NULL));
    printf("badflags.ret %ld\n", remap(g, PAGE, PAGE, 8, NULL));
    printf("zero_len.ret %ld\n", remap(g, PAGE, 0, MREMAP_MAYMOVE, NULL));
    printf("fixed_no_maymove.ret %ld\n", remap(g, PAGE, PAGE, MREMAP_FIXED, space + 50 * PAGE));
    printf("dontunmap_no_maymove.ret %ld\n", remap(g, PAGE, PAGE, MREMAP_DONTUNMAP, NULL));
    printf("dontunmap_resize.ret %ld\n", remap(g, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL));
    printf("fixed_overlap.ret %ld\n", remap(g, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, g + PAGE));
    printf("unmapped.ret %ld\n", remap(space + 60 * PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE, NULL));
    printf("past_end.ret %ld\n", remap(g, 6 * PAGE, 8 * PAGE, MREMAP_MAYMOVE, NULL));
    return 0;
}
