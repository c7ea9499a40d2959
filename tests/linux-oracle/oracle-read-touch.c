/* oracle-read-touch.vms: read-touch N = 1000 fresh anonymous pages -> N minor faults, no frame: each maps the zero page. */
#include "oracle.h"

int main(void)
{
    enum { N = 1000 };
    pin();
    uint64_t zero = zero_pfn();
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    struct faults before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) (void)a[i * PAGE];
    struct faults f = faults_since(before);
    long frames = 0, zero_pages = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t pfn = pfn_of((const void *)(a + i * PAGE));
        if (pfn == zero) zero_pages++;
        else if (pfn != 0) frames++;
    }
    printf("minflt %ld\nframes %ld\nzero_pages %ld\nvalue %d\n", f.minflt, frames, zero_pages, a[12345]);
    return 0;
}
