/* file-pagecache.vms: one page cache behind read(2), write(2) and mappings, on a disk file system (the scratch folder:
 * ext4 where last measured; tmpfs would count no major fault at all). Every mapping is one page long, so fault-around
 * (which maps cached neighbours inside the VMA) has nothing to map and the counts hold whatever fault_around_bytes is.
 *  - write(2) of 5000 bytes into an empty file grows it to 5000; a later shared mapping of its page 1 shows the bytes
 *    with one minor fault (the page is cached), zero past the end;
 *  - a store through a shared mapping is returned by pread(2);
 *  - pread(2) of a page of a file dropped from the cache brings it in: a mapping's first touch of it is minor, of a
 *    page before it (never read) major;
 *  - ftruncate shrinking: the mapped page past the new end is SIGBUS BUS_ADRERR, a private copy past it too; the tail
 *    of the page the end falls in reads 0; growing again reads 0 where the old bytes were;
 *  - writing through a shared mapping after msync(MS_SYNC), fsync or fdatasync costs one minor fault (the writeback
 *    write-protected the page); after msync(MS_ASYNC) none;
 *  - msync's errors; fsync, ftruncate and lseek of a pipe;
 *  - unlink while mapped: the mapping and the open descriptor keep the file, open by name is -ENOENT. */
#include "oracle.h"

static char path[4096];

static int fresh(const char *dir, const char *name)
{
    snprintf(path, sizeof path, "%s/file-pagecache.%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("open scratch file");
    return fd;
}

static volatile char *map1(int fd, int prot, int flags, off_t offset)
{
    volatile char *m = mmap(NULL, PAGE, prot, flags, fd, offset);
    if (m == MAP_FAILED) die("mmap");
    if (madvise((void *)m, PAGE, MADV_NOHUGEPAGE) != 0) die("madvise");
    return m;
}

static char buf[3 * PAGE];

int main(int argc, char **argv)
{
    pin();
    catch_signal(SIGBUS);
    if (argc < 2) { fprintf(stderr, "error usage: %s SCRATCH-DIR\n", argv[0]); return 2; }
    const char *dir = argv[1];

    /* write(2) then a mapping. */
    int f = fresh(dir, "w");
    memset(buf, 0x41, 5000);
    printf("write.ret %ld\n", ret_of(write(f, buf, 5000)));
    printf("write.size %ld\n", (long)lseek(f, 0, SEEK_END));
    volatile char *m = map1(f, PROT_READ | PROT_WRITE, MAP_SHARED, PAGE);
    struct faults before = faults_now(RUSAGE_SELF);
    int v = m[903];
    struct faults d = faults_since(before);
    printf("mapped.value %d\nmapped.minflt %ld\nmapped.majflt %ld\nmapped.past_end %d\n", v, d.minflt, d.majflt, m[904]);

    /* A store through a shared mapping, then pread(2). */
    volatile char *m0 = map1(f, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    m0[10] = 0x5a;
    char one = 0;
    printf("pread.ret %ld\n", ret_of(pread(f, &one, 1, 10)));
    printf("pread.value %d\n", one);

    /* msync(MS_SYNC), fsync, fdatasync and MS_ASYNC: what the next store through the mapping costs. */
    printf("msync.ret %ld\n", ret_of(msync((void *)m0, PAGE, MS_SYNC)));
    before = faults_now(RUSAGE_SELF);
    m0[11] = 1;
    printf("msync.write_minflt %ld\n", faults_since(before).minflt);
    printf("fsync.ret %ld\n", ret_of(fsync(f)));
    before = faults_now(RUSAGE_SELF);
    m0[12] = 1;
    printf("fsync.write_minflt %ld\n", faults_since(before).minflt);
    printf("fdatasync.ret %ld\n", ret_of(fdatasync(f)));
    before = faults_now(RUSAGE_SELF);
    m0[13] = 1;
    printf("fdatasync.write_minflt %ld\n", faults_since(before).minflt);
    printf("async.ret %ld\n", ret_of(msync((void *)m0, PAGE, MS_ASYNC)));
    before = faults_now(RUSAGE_SELF);
    m0[14] = 1;
    printf("async.write_minflt %ld\n", faults_since(before).minflt);
    printf("invalidate.ret %ld\n", ret_of(msync((void *)m0, PAGE, MS_INVALIDATE)));

    /* msync's errors. */
    printf("msync_both.ret %ld\n", ret_of(msync((void *)m0, PAGE, MS_SYNC | MS_ASYNC)));
    printf("msync_unaligned.ret %ld\n", ret_of(msync((void *)(m0 + 1), PAGE, MS_SYNC)));
    printf("msync_badflag.ret %ld\n", ret_of(msync((void *)m0, PAGE, 8)));
    char *hole = map_anon(3, PROT_READ | PROT_WRITE);
    if (munmap(hole + PAGE, PAGE) != 0) die("munmap");
    printf("msync_hole.ret %ld\n", ret_of(msync(hole, 3 * PAGE, MS_SYNC)));
    printf("msync_hole_async.ret %ld\n", ret_of(msync(hole, 3 * PAGE, MS_ASYNC)));
    char *locked = map_anon(1, PROT_READ | PROT_WRITE);
    if (mlock(locked, PAGE) != 0) die("mlock");
    printf("msync_locked_invalidate.ret %ld\n", ret_of(msync(locked, PAGE, MS_INVALIDATE)));
    printf("msync_locked_sync.ret %ld\n", ret_of(msync(locked, PAGE, MS_SYNC)));

    /* pipes and devices have no pages to sync or truncate. */
    int p[2];
    if (pipe(p) != 0) die("pipe");
    printf("pipe_fsync.ret %ld\n", ret_of(fsync(p[1])));
    printf("pipe_ftruncate.ret %ld\n", ret_of(ftruncate(p[1], 0)));
    printf("pipe_lseek.ret %ld\n", ret_of(lseek(p[0], 0, SEEK_SET)));
    printf("pipe_pread.ret %ld\n", ret_of(pread(p[0], &one, 1, 0)));
    int null = open("/dev/null", O_RDWR);
    if (null < 0) die("open /dev/null");
    printf("null_fsync.ret %ld\n", ret_of(fsync(null)));
    printf("null_lseek.ret %ld\n", ret_of(lseek(null, 100, SEEK_SET)));

    /* lseek. */
    printf("lseek_set.ret %ld\n", ret_of(lseek(f, 100, SEEK_SET)));
    printf("lseek_cur.ret %ld\n", ret_of(lseek(f, 10, SEEK_CUR)));
    printf("lseek_negative.ret %ld\n", ret_of(lseek(f, -1, SEEK_SET)));
    printf("lseek_badwhence.ret %ld\n", ret_of(lseek(f, 0, 7)));
    printf("read_at.ret %ld\n", ret_of(read(f, &one, 1)));
    printf("read_at.value %d\n", one);

    /* read(2) brings a page into the cache: the first touch of a mapping of it is minor; a page never read, major. */
    int r = fresh(dir, "r");
    memset(buf, 0x62, sizeof buf);
    if (write(r, buf, 3 * PAGE) != 3 * PAGE) die("write");
    if (fsync(r) != 0 || posix_fadvise(r, 0, 0, POSIX_FADV_DONTNEED) != 0) die("fsync/fadvise");
    printf("readin.ret %ld\n", ret_of(pread(r, &one, 1, PAGE + 5)));
    volatile char *r1 = map1(r, PROT_READ, MAP_PRIVATE, PAGE);
    volatile char *r0 = map1(r, PROT_READ, MAP_PRIVATE, 0);
    before = faults_now(RUSAGE_SELF);
    v = r1[0];
    d = faults_since(before);
    printf("readin.value %d\nreadin.minflt %ld\nreadin.majflt %ld\n", v, d.minflt, d.majflt);
    before = faults_now(RUSAGE_SELF);
    v = r0[0];
    d = faults_since(before);
    printf("unread.minflt %ld\nunread.majflt %ld\n", d.minflt, d.majflt);

    /* ftruncate. */
    int t = fresh(dir, "t");
    memset(buf, 0x63, sizeof buf);
    if (write(t, buf, 3 * PAGE) != 3 * PAGE) die("write");
    volatile char *t0 = map1(t, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    volatile char *t1 = map1(t, PROT_READ | PROT_WRITE, MAP_SHARED, PAGE);
    volatile char *t2 = map1(t, PROT_READ | PROT_WRITE, MAP_PRIVATE, 2 * PAGE);
    v = t0[200] + t1[0];
    t2[0] = 0x64; /* a private copy of page 2 */
    printf("truncate.ret %ld\n", ret_of(ftruncate(t, 100)));
    printf("truncate.tail %d\n", t0[200]);
    printf("truncate.kept %d\n", t0[99]);
    caught_signo = 0;
    if (sigsetjmp(caught_at, 1) == 0) v = t1[0];
    print_signal("truncate.signal");
    printf("truncate.signal.addr_is_fault %d\n", caught_addr == (void *)t1);
    caught_signo = 0;
    if (sigsetjmp(caught_at, 1) == 0) v = t2[0];
    print_signal("truncate.copy_signal");
    printf("truncate.copy_signal.addr_is_fault %d\n", caught_addr == (void *)t2);
    printf("truncate.size %ld\n", (long)lseek(t, 0, SEEK_END));
    printf("grow.ret %ld\n", ret_of(ftruncate(t, 2 * PAGE)));
    v = t1[0];
    printf("grow.value %d\n", v);
    printf("truncate_negative.ret %ld\n", ret_of(ftruncate(t, -1)));

    /* unlink while mapped. */
    int u = fresh(dir, "u");
    memset(buf, 0x65, PAGE);
    if (write(u, buf, PAGE) != PAGE) die("write");
    volatile char *um = map1(u, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    printf("unlink.ret %ld\n", ret_of(unlink(path)));
    printf("unlink.value %d\n", um[0]);
    um[1] = 0x66;
    printf("unlink.pread %ld\n", ret_of(pread(u, &one, 1, 1)));
    printf("unlink.pread_value %d\n", one);
    printf("unlink.open %ld\n", ret_of(open(path, O_RDONLY)));
    printf("unlink.again %ld\n", ret_of(unlink(path)));

    snprintf(path, sizeof path, "%s/file-pagecache.w", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/file-pagecache.r", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/file-pagecache.t", dir);
    unlink(path);
    return 0;
}
