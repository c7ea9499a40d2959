/* madvise-dontneed-zeroes.vms: MADV_DONTNEED drops private anonymous pages: the next touch faults again (one minor
 * fault) and reads zero. */
#include "oracle.h"

int main(void)
{
    pin();
    volatile char *a = map_anon(8, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < 8; i++) a[i * PAGE] = 0x77;
    long r = ret_of(madvise((void *)a, 8 * PAGE, MADV_DONTNEED));
    long resident = 0;
    for (size_t i = 0; i < 8; i++) resident += pfn_of((const void *)(a + i * PAGE)) != 0;
    struct faults before = faults_now(RUSAGE_SELF);
    int v = a[2 * PAGE];
    struct faults f = faults_since(before);
    printf("ret %ld\nresident %ld\nvalue %d\nminflt %ld\n", r, resident, v, f.minflt);
    return 0;
}
