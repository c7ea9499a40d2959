/* oracle-write-touch.vms: write-touch N = 1000 fresh anonymous pages -> N minor faults, one new frame each. */
#include "oracle.h"

int main(void)
{
    enum { N = 1000 };
    pin();
    uint64_t zero = zero_pfn();
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    struct faults before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 1;
    struct faults f = faults_since(before);
    long frames = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t pfn = pfn_of((const void *)(a + i * PAGE));
        if (pfn != 0 && pfn != zero) frames++;
    }
    printf("minflt %ld\nmajflt %ld\nframes %ld\n", f.minflt, f.majflt, frames);
    return 0;
}
