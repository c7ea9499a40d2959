/* file-readahead.vms: synchronous readahead on read(2) (page_cache_sync_readahead), on a disk file system (the scratch
 * folder: ext4 where last measured). Each case uses a 64-page file not in the page cache, reads with pread(2), then
 * maps the file and asks mincore which pages are in the page cache (nothing is touched: a fault would start
 * asynchronous readahead at the window's marker page):
 *  - at0: a 1-page pread at offset 0 starts the initial window get_init_ra_size(1, ra_pages) = 4 pages (pages 0-3;
 *    the same for any read_ahead_kb of 128 or more);
 *  - random: a 1-page pread at page 20 (not at 0, not after an earlier read) reads that page alone;
 *  - seq: pread of page 20 then page 21 (page 21 follows the previous read: sequential) starts a window of 4 at 21,
 *    pages 20-24 cached. */
#include "oracle.h"

/* mincore of the 64-page file: the vector of the 8 pages from `first` and the count of resident pages. */
static void report(const char *key, int fd, int first)
{
    unsigned char vec[64];
    void *m = mmap(NULL, 64 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) die("mmap");
    if (mincore(m, 64 * PAGE, vec) != 0) die("mincore");
    long n = 0, v = 0;
    for (int i = 0; i < 64; i++) n += vec[i] & 1;
    for (int i = first; i < first + 8; i++) v = v * 10 + (vec[i] & 1);
    printf("%s.vector %08ld\n%s.resident %ld\n", key, v, key, n);
    munmap(m, 64 * PAGE);
}

int main(int argc, char **argv)
{
    static char buf[PAGE];
    pin();

    int fd = scratch_file(argc, argv, "file-readahead-at0", 64, 0x61);
    printf("at0.ret %ld\n", (long)pread(fd, buf, PAGE, 0));
    report("at0", fd, 0);

    fd = scratch_file(argc, argv, "file-readahead-random", 64, 0x62);
    if (pread(fd, buf, PAGE, 20 * PAGE) != (ssize_t)PAGE) die("pread");
    report("random", fd, 16);

    fd = scratch_file(argc, argv, "file-readahead-seq", 64, 0x63);
    if (pread(fd, buf, PAGE, 20 * PAGE) != (ssize_t)PAGE) die("pread");
    if (pread(fd, buf, PAGE, 21 * PAGE) != (ssize_t)PAGE) die("pread");
    report("seq", fd, 16);
    return 0;
}
