/* mlock.vms: mlock of 8 fresh private writable pages populates them (write faults, as MAP_POPULATE: 8 minor faults,
 * 8 present) and returns 0; mlock2(MLOCK_ONFAULT) populates nothing, and the pages are locked as they are touched;
 * an unaligned start is rounded down (0); a range with a hole is -ENOMEM, the VMAs before the hole locked but not
 * populated; unknown mlock2 flags -EINVAL; PROT_NONE is locked, cannot be populated, and mlock returns -ENOMEM. Locked pages refuse DONTNEED, FREE, COLD and PAGEOUT (-EINVAL); after munlock they take
 * them again. mlockall(MCL_CURRENT | MCL_FUTURE) locks later mappings too: a new mapping is populated at mmap; with
 * MCL_ONFAULT it is not; munlockall ends it; mlockall(0) and mlockall(MCL_ONFAULT) alone are -EINVAL. The probe runs
 * as root (CAP_IPC_LOCK: RLIMIT_MEMLOCK does not apply), which VmLab does not model. */
#include "oracle.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

static long mlock2_(const void *a, size_t len, unsigned flags) { return ret_of(syscall(SYS_mlock2, a, len, flags)); }

int main(void)
{
    pin();
    char *a = map_anon(8, PROT_READ | PROT_WRITE);
    struct faults before = faults_now(RUSAGE_SELF);
    long r = ret_of(mlock(a, 8 * PAGE));
    struct faults f = faults_since(before);
    printf("mlock.ret %ld\nmlock.minflt %ld\nmlock.resident %ld\n", r, f.minflt, pages_with(0, a, 8, PM_PRESENT));
    before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < 8; i++) ((volatile char *)a)[i * PAGE] = 1;
    f = faults_since(before);
    printf("mlock.write_minflt %ld\n", f.minflt);
    printf("dontneed.ret %ld\nfree.ret %ld\ncold.ret %ld\npageout.ret %ld\n", ret_of(madvise(a, PAGE, MADV_DONTNEED)),
           ret_of(madvise(a, PAGE, MADV_FREE)), ret_of(madvise(a, PAGE, MADV_COLD)), ret_of(madvise(a, PAGE, MADV_PAGEOUT)));
    printf("munlock.ret %ld\n", ret_of(munlock(a, 8 * PAGE)));
    r = ret_of(madvise(a, PAGE, MADV_DONTNEED));
    printf("unlocked.dontneed.ret %ld\nunlocked.resident %ld\n", r, pages_with(0, a, 8, PM_PRESENT));

    char *o = map_anon(8, PROT_READ | PROT_WRITE);
    r = mlock2_(o, 8 * PAGE, MLOCK_ONFAULT);
    printf("onfault.ret %ld\nonfault.resident %ld\n", r, pages_with(0, o, 8, PM_PRESENT));
    before = faults_now(RUSAGE_SELF);
    ((volatile char *)o)[2 * PAGE] = 1;
    f = faults_since(before);
    printf("onfault.minflt %ld\nonfault.locked_dontneed %ld\n", f.minflt, ret_of(madvise(o, 8 * PAGE, MADV_DONTNEED)));
    printf("badflags.ret %ld\n", mlock2_(o, PAGE, 2));

    char *u = map_anon(2, PROT_READ | PROT_WRITE);
    r = ret_of(mlock(u + 100, 10));
    printf("unaligned.ret %ld\nunaligned.resident %ld\n", r, pages_with(0, u, 2, PM_PRESENT));
    char *h = map_anon(3, PROT_READ | PROT_WRITE);
    if (munmap(h + PAGE, PAGE) != 0) die("munmap");
    printf("hole.ret %ld\n", ret_of(mlock(h, 3 * PAGE)));
    printf("hole.resident %ld\nhole.dontneed.ret %ld\n", pages_with(0, h, 1, PM_PRESENT), ret_of(madvise(h, PAGE, MADV_DONTNEED)));
    char *n = map_anon(2, PROT_NONE);
    r = ret_of(mlock(n, 2 * PAGE));
    printf("none.ret %ld\nnone.resident %ld\nnone.dontneed.ret %ld\n", r, pages_with(0, n, 2, PM_PRESENT), ret_of(madvise(n, PAGE, MADV_DONTNEED)));

    printf("mlockall0.ret %ld\nmlockall_onfault_only.ret %ld\n", ret_of(mlockall(0)), ret_of(mlockall(MCL_ONFAULT)));
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) die("mlockall");
    before = faults_now(RUSAGE_SELF);
    char *fu = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    f = faults_since(before);
    if (fu == MAP_FAILED) die("mmap");
    printf("future.minflt %ld\nfuture.resident %ld\n", f.minflt, pages_with(0, fu, 4, PM_PRESENT));
    if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) die("mlockall onfault");
    char *fo = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fo == MAP_FAILED) die("mmap");
    printf("future_onfault.resident %ld\nfuture_onfault.dontneed %ld\n", pages_with(0, fo, 4, PM_PRESENT), ret_of(madvise(fo, PAGE, MADV_DONTNEED)));
    printf("munlockall.ret %ld\n", ret_of(munlockall()));
    char *after = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (after == MAP_FAILED) die("mmap");
    printf("after.resident %ld\nafter.dontneed %ld\n", pages_with(0, after, 4, PM_PRESENT), ret_of(madvise(fu, PAGE, MADV_DONTNEED)));
    return 0;
}
