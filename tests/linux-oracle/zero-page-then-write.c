/* zero-page-then-write.vms: reading 10 fresh pages maps the zero page (10 minor faults, no frame); writing them
 * afterwards costs 10 more faults, each replacing the zero page by a new zeroed frame. */
#include "oracle.h"

int main(void)
{
    enum { N = 10 };
    pin();
    uint64_t zero = zero_pfn();
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    struct faults before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) (void)a[i * PAGE];
    struct faults reads = faults_since(before);
    long zero_pages = 0, frames = 0;
    for (size_t i = 0; i < N; i++) zero_pages += pfn_of((const void *)(a + i * PAGE)) == zero;
    before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 9;
    struct faults writes = faults_since(before);
    for (size_t i = 0; i < N; i++) {
        uint64_t pfn = pfn_of((const void *)(a + i * PAGE));
        frames += pfn != 0 && pfn != zero;
    }
    printf("minflt %ld\nzero_pages %ld\nframes %ld\nvalue %d\n", reads.minflt + writes.minflt, zero_pages, frames, a[3 * PAGE]);
    return 0;
}
