/* madvise-free.vms: MADV_FREE on 8 written private anonymous pages returns 0 and leaves them mapped with their data
 * (no memory pressure); a write to one makes it dirty again, with no fault. MADV_PAGEOUT then discards the 7 clean
 * lazily freed pages without swap and keeps the written one: the next read of a discarded page is one minor fault
 * and zero. MADV_FREE refuses shared anonymous memory, file mappings and an unaligned start (-EINVAL) and reports a
 * range with a hole -ENOMEM. This machine has no swap (the scenario runs with swapSlots=0); the lazily freed pages are
 * in this CPU's LRU batch until PAGEOUT drains it (lru_add_drain drains the local CPU only), so the probe is pinned. */
#include "oracle.h"

int main(int argc, char **argv)
{
    pin();
    volatile char *a = map_anon(8, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < 8; i++) a[i * PAGE] = 0x77;
    long r = ret_of(madvise((void *)a, 8 * PAGE, MADV_FREE));
    printf("ret %ld\nresident %ld\n", r, pages_with(0, (const void *)a, 8, PM_PRESENT));
    struct faults before = faults_now(RUSAGE_SELF);
    int kept = a[PAGE];
    a[0] = 0x55;
    struct faults f = faults_since(before);
    printf("value_kept %d\nminflt %ld\n", kept, f.minflt);
    r = ret_of(madvise((void *)a, 8 * PAGE, MADV_PAGEOUT));
    printf("pageout.ret %ld\npageout.resident %ld\n", r, pages_with(0, (const void *)a, 8, PM_PRESENT));
    before = faults_now(RUSAGE_SELF);
    int discarded = a[PAGE];
    int written = a[0];
    f = faults_since(before);
    printf("discarded.value %d\nwritten.value %d\ndiscarded.minflt %ld\n", discarded, written, f.minflt);

    char *s = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) die("mmap shared");
    printf("shared.ret %ld\n", ret_of(madvise(s, 4 * PAGE, MADV_FREE)));
    int fd = scratch_file(argc, argv, "madvise-free", 4, 0x61);
    char *m = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) die("mmap file");
    printf("file.ret %ld\n", ret_of(madvise(m, 4 * PAGE, MADV_FREE)));
    printf("unaligned.ret %ld\n", ret_of(madvise((char *)a + 1, PAGE, MADV_FREE)));
    char *h = map_anon(3, PROT_READ | PROT_WRITE);
    if (munmap(h + PAGE, PAGE) != 0) die("munmap");
    printf("hole.ret %ld\n", ret_of(madvise(h, 3 * PAGE, MADV_FREE)));
    return 0;
}
