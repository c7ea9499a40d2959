/* mmap-populate.vms: MAP_POPULATE pre-faults 50 private writable pages (50 minor faults, 50 frames); writing them
 * afterwards costs no fault. */
#include "oracle.h"

int main(void)
{
    enum { N = 50 };
    pin();
    uint64_t zero = zero_pfn();
    /* MAP_POPULATE faults the pages in before madvise could mark the mapping: THP is off for the whole process (pin). */
    struct faults before = faults_now(RUSAGE_SELF);
    volatile char *a = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    struct faults f = faults_since(before);
    if (a == MAP_FAILED) die("mmap");
    long frames = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t pfn = pfn_of((const void *)(a + i * PAGE));
        frames += pfn != 0 && pfn != zero;
    }
    before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 1;
    struct faults again = faults_since(before);
    printf("minflt %ld\nframes %ld\nwrite.minflt %ld\n", f.minflt, frames, again.minflt);
    return 0;
}
