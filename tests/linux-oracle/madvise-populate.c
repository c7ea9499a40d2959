/* madvise-populate.vms: MADV_POPULATE_WRITE of 10 fresh private pages: 0, 10 minor faults (get_user_pages counts
 * them as the task's), 10 present, and writing them takes no fault. MADV_POPULATE_READ of 10 read-only pages: 0, 10
 * minor faults, 10 present. Errors: PROT_NONE -EINVAL; POPULATE_WRITE of a read-only mapping -EINVAL; a range whose
 * third page is unmapped: -ENOMEM after populating the two before it; a range whose second page is PROT_NONE: -EINVAL
 * after populating the first; a file mapping past the file's end: -EFAULT after the file's page. */
#include "oracle.h"

int main(int argc, char **argv)
{
    pin();
    char *a = map_anon(10, PROT_READ | PROT_WRITE);
    struct faults before = faults_now(RUSAGE_SELF);
    long r = ret_of(madvise(a, 10 * PAGE, MADV_POPULATE_WRITE));
    struct faults f = faults_since(before);
    printf("write.ret %ld\nwrite.minflt %ld\nwrite.resident %ld\n", r, f.minflt, pages_with(0, a, 10, PM_PRESENT));
    before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < 10; i++) ((volatile char *)a)[i * PAGE] = 1;
    f = faults_since(before);
    printf("write.rewrite_minflt %ld\n", f.minflt);
    char *b = map_anon(10, PROT_READ);
    before = faults_now(RUSAGE_SELF);
    r = ret_of(madvise(b, 10 * PAGE, MADV_POPULATE_READ));
    f = faults_since(before);
    printf("read.ret %ld\nread.minflt %ld\nread.resident %ld\n", r, f.minflt, pages_with(0, b, 10, PM_PRESENT));
    printf("readonly_write.ret %ld\n", ret_of(madvise(b, 10 * PAGE, MADV_POPULATE_WRITE)));
    char *n = map_anon(4, PROT_NONE);
    printf("none.ret %ld\n", ret_of(madvise(n, 4 * PAGE, MADV_POPULATE_READ)));
    char *h = map_anon(3, PROT_READ | PROT_WRITE);
    if (munmap(h + 2 * PAGE, PAGE) != 0) die("munmap");
    before = faults_now(RUSAGE_SELF);
    r = ret_of(madvise(h, 3 * PAGE, MADV_POPULATE_WRITE));
    f = faults_since(before);
    printf("hole.ret %ld\nhole.minflt %ld\nhole.resident %ld\n", r, f.minflt, pages_with(0, h, 2, PM_PRESENT));
    char *m = map_anon(3, PROT_READ | PROT_WRITE);
    if (mprotect(m + PAGE, PAGE, PROT_NONE) != 0) die("mprotect");
    r = ret_of(madvise(m, 3 * PAGE, MADV_POPULATE_WRITE));
    printf("mixed.ret %ld\nmixed.resident %ld\n", r, pages_with(0, m, 3, PM_PRESENT));
    int fd = scratch_file(argc, argv, "madvise-populate", 1, 0x61);
    char *e = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (e == MAP_FAILED) die("mmap file");
    if (madvise(e, 4 * PAGE, MADV_RANDOM) != 0) die("madvise(MADV_RANDOM)");
    r = ret_of(madvise(e, 4 * PAGE, MADV_POPULATE_READ));
    printf("eof.ret %ld\neof.resident %ld\n", r, pages_with(0, e, 4, PM_PRESENT));
    return 0;
}
