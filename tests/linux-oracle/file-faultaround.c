/* file-faultaround.vms: fault-around and mmap read-around at Linux's defaults (fault_around_bytes 65536,
 * read_ahead_kb 128), on a disk file system (the scratch folder: ext4 where last measured).
 *  - 16 pages of a file not in the page cache, mapped private read-only and read page by page: the first fault reads
 *    the whole file (read-around: 32 pages from page 0, cut at the end), maps all 16 (fault-around) and is the one
 *    major fault; the other 15 reads fault no more;
 *  - a second mapping of the same 16 pages, now cached: one minor fault for all 16.
 * The first fault maps the window too: Linux drops the mmap lock for the read and retries the fault, and the retry
 * maps the cached window (do_fault_around) and counts as the one major fault. */
#include "oracle.h"

static struct faults touch(volatile char *m, const int *pages, int n)
{
    struct faults before = faults_now(RUSAGE_SELF);
    for (int i = 0; i < n; i++) (void)m[(size_t)pages[i] * PAGE];
    return faults_since(before);
}

static volatile char *map_file(int fd, size_t pages)
{
    volatile char *m = mmap(NULL, pages * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) die("mmap");
    if (madvise((void *)m, pages * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise");
    return m;
}

int main(int argc, char **argv)
{
    pin();
    int fd = scratch_file(argc, argv, "file-faultaround-16", 16, 0x61);
    volatile char *m = map_file(fd, 16);
    int first[] = { 0 }, second[] = { 1 }, rest[14];
    for (int i = 0; i < 14; i++) rest[i] = i + 2;
    struct faults a = touch(m, first, 1), b = touch(m, second, 1), c = touch(m, rest, 14);
    printf("cold.first.majflt %ld\ncold.first.minflt %ld\n", a.majflt, a.minflt);
    printf("cold.second.majflt %ld\ncold.second.minflt %ld\n", b.majflt, b.minflt);
    printf("cold.rest.majflt %ld\ncold.rest.minflt %ld\n", c.majflt, c.minflt);
    volatile char *again = map_file(fd, 16);
    int all[16];
    for (int i = 0; i < 16; i++) all[i] = i;
    struct faults d = touch(again, all, 16);
    printf("cached.majflt %ld\ncached.minflt %ld\n", d.majflt, d.minflt);
    printf("value %d\n", again[15 * PAGE]);

    return 0;
}
