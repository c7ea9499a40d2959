/* madvise-readhint.vms: MADV_RANDOM and MADV_SEQUENTIAL on a private read-only mapping of a 40-page file not in the
 * page cache (the scratch folder: ext4 where last measured), touching page 20, then mincore over the file:
 *  - random: VM_RAND_READ turns mmap read-around off (do_sync_mmap_readahead): the fault reads page 20 alone (one
 *    major fault, 1 page cached); page 21 is another major fault;
 *  - sequential: VM_SEQ_READ reads ahead from the faulting page (page_cache_sync_ra of ra_pages): pages 20-39, to the
 *    end of the file (20 pages for any read_ahead_kb of 80 or more), one major fault. What the later touches of
 *    those pages cost is not reported: it depends on where the mapping lands (fault-around's window is aligned on the
 *    virtual address) and on the readahead marker page, which fault-around skips (measured: page 31 one minor fault
 *    in 5 of 6 runs, none in 1);
 *  - normal (MADV_NORMAL after MADV_RANDOM) reads around again: the fault is major and caches more than page 20 (how
 *    many depends on read_ahead_kb, so the count is not reported). */
#include "oracle.h"

static volatile char *map_file(const char *key, int fd, size_t pages, int advice)
{
    volatile char *m = mmap(NULL, pages * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) die("mmap");
    if (madvise((void *)m, pages * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise");
    printf("%s.advice %ld\n", key, ret_of(madvise((void *)m, pages * PAGE, advice)));
    return m;
}

static long cached(volatile char *m, size_t pages)
{
    unsigned char vec[64];
    if (mincore((void *)m, pages * PAGE, vec) != 0) die("mincore");
    long n = 0;
    for (size_t i = 0; i < pages; i++) n += vec[i] & 1;
    return n;
}

static void touch(const char *key, volatile char *m, int page)
{
    struct faults before = faults_now(RUSAGE_SELF);
    (void)m[(size_t)page * PAGE];
    struct faults f = faults_since(before);
    printf("%s.majflt %ld\n%s.minflt %ld\n", key, f.majflt, key, f.minflt);
}

int main(int argc, char **argv)
{
    pin();
    int fd = scratch_file(argc, argv, "madvise-readhint-random", 40, 0x61);
    volatile char *m = map_file("random", fd, 40, MADV_RANDOM);
    touch("random.first", m, 20);
    printf("random.cached %ld\n", cached(m, 40));
    touch("random.next", m, 21);

    fd = scratch_file(argc, argv, "madvise-readhint-seq", 40, 0x62);
    m = map_file("seq", fd, 40, MADV_SEQUENTIAL);
    touch("seq.first", m, 20);
    printf("seq.cached %ld\n", cached(m, 40));

    fd = scratch_file(argc, argv, "madvise-readhint-normal", 40, 0x63);
    m = map_file("normal", fd, 40, MADV_RANDOM);
    printf("normal.ret %ld\n", ret_of(madvise((void *)m, 40 * PAGE, MADV_NORMAL)));
    touch("normal.first", m, 20);
    if (cached(m, 40) <= 1) { fprintf(stderr, "error MADV_NORMAL did not read around\n"); return 2; }
    return 0;
}
