/* madvise-pageout-cold.vms: MADV_COLD and MADV_PAGEOUT. COLD on 8 written anonymous pages: 0, all stay mapped, and
 * touching them again takes no fault. PAGEOUT of them without swap: 0, all stay (anonymous pages need a swap slot;
 * the scenario runs with swapSlots=0, as this machine has no swap). A private read-only file mapping of 4 pages read
 * from the disk (4 major faults; read-around off with MADV_RANDOM, as the scenario does): PAGEOUT drops the
 * clean file pages mapped only here, and the next read is a major fault again. The probe is pinned: PAGEOUT drains
 * only this CPU's LRU batches, and pages still in another CPU's batch would not be isolated. */
#include "oracle.h"

int main(int argc, char **argv)
{
    pin();
    volatile char *a = map_anon(8, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < 8; i++) a[i * PAGE] = 0x77;
    long r = ret_of(madvise((void *)a, 8 * PAGE, MADV_COLD));
    printf("cold.ret %ld\ncold.resident %ld\n", r, pages_with(0, (const void *)a, 8, PM_PRESENT));
    struct faults before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < 8; i++) a[i * PAGE] = 0x78;
    struct faults f = faults_since(before);
    printf("cold.minflt %ld\n", f.minflt);
    r = ret_of(madvise((void *)a, 8 * PAGE, MADV_PAGEOUT));
    printf("anon.ret %ld\nanon.resident %ld\n", r, pages_with(0, (const void *)a, 8, PM_PRESENT));

    int fd = scratch_file(argc, argv, "madvise-pageout-cold", 4, 0x61);
    volatile char *m = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) die("mmap file");
    if (madvise((void *)m, 4 * PAGE, MADV_NOHUGEPAGE) != 0 || madvise((void *)m, 4 * PAGE, MADV_RANDOM) != 0) die("madvise");
    before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < 4; i++) (void)m[i * PAGE];
    f = faults_since(before);
    printf("file.majflt %ld\nfile.resident %ld\n", f.majflt, pages_with(0, (const void *)m, 4, PM_PRESENT));
    r = ret_of(madvise((void *)m, 4 * PAGE, MADV_PAGEOUT));
    printf("file.ret %ld\nfile.pageout.resident %ld\n", r, pages_with(0, (const void *)m, 4, PM_PRESENT));
    before = faults_now(RUSAGE_SELF);
    int v = m[PAGE];
    f = faults_since(before);
    printf("file.value %d\nfile.again.majflt %ld\n", v, f.majflt);
    return 0;
}
