/* mincore-mapflags-brk.vms: mincore of 8 private anonymous pages of which pages 0, 2 and 3 were written: ret 0, the
 * vector 10110000; a file page in the page cache is resident though this process never touched it; an unaligned start
 * is -EINVAL, a range with a hole -ENOMEM. MAP_FIXED_NOREPLACE over a mapping is -EEXIST and leaves it; in a free
 * range it maps there. MAP_SHARED_VALIDATE maps as MAP_SHARED; with MAP_SYNC on a file that is no DAX file it is
 * -EOPNOTSUPP, where MAP_SHARED ignores MAP_SYNC. Shrinking the break with brk unmaps the pages above it: an access
 * there is SIGSEGV SEGV_MAPERR; growing it again gives fresh zeroed pages (one fault each). The break is moved with
 * the raw system call and nothing calls malloc meanwhile (glibc's sbrk caches the break). */
#include "oracle.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

static long vector_of(const unsigned char *vec, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (vec[i] & 1);
    return v;
}

int main(int argc, char **argv)
{
    pin();
    catch_signal(SIGSEGV);
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof out); /* stdout's buffer is static: nothing calls malloc, which uses brk */
    unsigned char vec[8];
    volatile char *a = map_anon(8, PROT_READ | PROT_WRITE);
    a[0] = 1; a[2 * PAGE] = 1; a[3 * PAGE] = 1;
    long r = ret_of(mincore((void *)a, 8 * PAGE, vec));
    printf("mincore.ret %ld\nmincore.vector %08ld\nmincore.count %ld\n", r, vector_of(vec, 8), pages_with(0, (const void *)a, 8, PM_PRESENT));
    int fd = scratch_file(argc, argv, "mincore-mapflags-brk", 2, 0x61);
    volatile char *other = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (other == MAP_FAILED || madvise((void *)other, 2 * PAGE, MADV_RANDOM) != 0) die("mmap file");
    (void)other[PAGE]; /* brings page 1 alone into the page cache (no readahead), then the mapping goes */
    if (munmap((void *)other, 2 * PAGE) != 0) die("munmap");
    char *f = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED) die("mmap file");
    r = ret_of(mincore(f, 2 * PAGE, vec));
    printf("file.ret %ld\nfile.vector %02ld\n", r, vector_of(vec, 2));
    printf("unaligned.ret %ld\n", ret_of(mincore((char *)a + 1, PAGE, vec)));
    char *h = map_anon(3, PROT_READ | PROT_WRITE);
    if (munmap(h + PAGE, PAGE) != 0) die("munmap");
    printf("hole.ret %ld\n", ret_of(mincore(h, 3 * PAGE, vec)));

    void *x = mmap((void *)(a + PAGE), PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("noreplace.ret %ld\nnoreplace.kept %d\n", x == MAP_FAILED ? -(long)errno : 0L, a[2 * PAGE]);
    x = mmap((void *)(h + PAGE), PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (x != MAP_FAILED) *(volatile char *)x = 1;
    printf("noreplace_free.present %ld\n", pages_with(0, h + PAGE, 1, PM_PRESENT));
    /* MAP_SYNC on a file system without it (a memfd: tmpfs); ext4, which has it, refuses it on a non-DAX file even
     * through MAP_SHARED. 0x200000 is a bit no mmap flag uses. */
    int memfd = memfd_create("mincore-mapflags-brk", 0);
    if (memfd < 0 || ftruncate(memfd, PAGE) != 0) die("memfd");
    x = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, memfd, 0);
    printf("validate_sync.ret %ld\n", x == MAP_FAILED ? -(long)errno : 0L);
    x = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | 0x200000, memfd, 0);
    printf("validate_unknown.ret %ld\n", x == MAP_FAILED ? -(long)errno : 0L);
    x = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_SYNC | 0x200000, memfd, 0);
    if (x != MAP_FAILED) (void)*(volatile char *)x;
    printf("shared_ignores.present %ld\n", x == MAP_FAILED ? -(long)errno : pages_with(0, x, 1, PM_PRESENT));
    x = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0);
    printf("validate_anon.ret %ld\n", x == MAP_FAILED ? -(long)errno : 0L);
    volatile char *v = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE, fd, 0);
    printf("validate.value %d\n", v == MAP_FAILED ? -(int)errno : v[0]);

    uintptr_t cur = (uintptr_t)syscall(SYS_brk, 0);
    uintptr_t base = (cur + PAGE - 1) & ~(PAGE - 1);
    volatile char *heap = (volatile char *)base;
    if ((uintptr_t)syscall(SYS_brk, base + 4 * PAGE) != base + 4 * PAGE) die("brk grow");
    for (size_t i = 0; i < 4; i++) heap[i * PAGE] = 0x42;
    uintptr_t shrunk = (uintptr_t)syscall(SYS_brk, base + PAGE);
    long kept = pages_with(0, (const void *)heap, 1, PM_PRESENT);
    int below = heap[0];
    if (sigsetjmp(caught_at, 1) == 0) (void)heap[2 * PAGE];
    int signo = caught_signo, code = caught_code, at_fault = caught_addr == (void *)(heap + 2 * PAGE);
    unsigned long in_page = (unsigned long)((uintptr_t)caught_addr % PAGE);
    if ((uintptr_t)syscall(SYS_brk, base + 3 * PAGE) != base + 3 * PAGE) die("brk regrow");
    struct faults before = faults_now(RUSAGE_SELF);
    int regrown = heap[2 * PAGE];
    struct faults fl = faults_since(before);
    if (shrunk != base + PAGE) { errno = 0; die("brk shrink"); }
    printf("brk.kept %ld\nbrk.below %d\n", kept, below);
    printf("brk.signal.signo %d\nbrk.signal.code %d\nbrk.signal.addr_in_page %lu\nbrk.signal.addr_is_fault %d\n", signo, code, in_page, at_fault);
    printf("brk.regrown %d\nbrk.regrown.minflt %ld\n", regrown, fl.minflt);
    return 0;
}
