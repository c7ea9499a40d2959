/* file-sigbus-past-eof.vms: a private read-only mapping of 4 pages over a 10000-byte file of 0x61. The first read of
 * each file page not in the page cache is a major fault; bytes past the end inside the last page read as zero; page 3
 * (index >= ceil(10000/4096)) is SIGBUS, BUS_ADRERR. At the default read_ahead_kb (128) the first fault reads the whole
 * file (read-around) and, retried after the read, maps its 3 pages (fault-around): one major fault in all, none for
 * page 2. The file is written in the scratch folder and dropped from the page cache before mapping. */
#include "oracle.h"

int main(int argc, char **argv)
{
    pin();
    catch_signal(SIGBUS);
    if (argc < 2) { fprintf(stderr, "error usage: %s SCRATCH-DIR\n", argv[0]); return 2; }
    char path[4096], data[10000];
    snprintf(path, sizeof path, "%s/file-sigbus-past-eof.data", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("open scratch file");
    memset(data, 0x61, sizeof data);
    if (write(fd, data, sizeof data) != (ssize_t)sizeof data) die("write");
    if (fsync(fd) != 0) die("fsync");
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) die("posix_fadvise");
    volatile char *f = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED) die("mmap");
    if (madvise((void *)f, 4 * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise");
    /* Nothing of the file may be cached, or the first read would be minor. */
    unsigned char vec[4];
    if (mincore((void *)f, 4 * PAGE, vec) != 0) die("mincore");
    if ((vec[0] | vec[1] | vec[2]) & 1) { errno = 0; die("the page cache kept the file after POSIX_FADV_DONTNEED"); }
    struct faults before = faults_now(RUSAGE_SELF);
    int v0 = f[0];
    struct faults first = faults_since(before);
    int v1 = f[9999], v2 = f[10000];
    struct faults all = faults_since(before);
    printf("value %d\nfirst.majflt %ld\nvalue_last %d\nvalue_past_eof %d\nmajflt %ld\n", v0, first.majflt, v1, v2, all.majflt);
    if (sigsetjmp(caught_at, 1) == 0) (void)f[3 * PAGE];
    print_signal("signal");
    printf("signal.addr_is_fault %d\n", caught_addr == (void *)(f + 3 * PAGE));
    unlink(path);
    return 0;
}
