/* Not paired with a scenario: a property of the kernel under test that the runner reads first. Prints "zero_page 1"
 * when a read fault on fresh private anonymous memory maps the shared zero page (as mainline mm/memory.c's
 * do_anonymous_page does), "zero_page 0" when the kernel allocates a frame instead (a patched kernel). With 0 the
 * scenarios are compared with VmLab's demand-zero and stack-growth handlers' zeroPage option off. */
#include "oracle.h"

int main(void)
{
    pin();
    volatile char *a = map_anon(2, PROT_READ | PROT_WRITE);
    (void)a[0];
    (void)a[PAGE];
    uint64_t p0 = pfn_of((const void *)a), p1 = pfn_of((const void *)(a + PAGE));
    struct faults before = faults_now(RUSAGE_SELF);
    a[0] = 1;
    struct faults f = faults_since(before);
    /* The zero page: both pages share one frame, and the write after the read faults again to replace it. */
    printf("zero_page %d\n", p0 != 0 && p0 == p1 && f.minflt == 1);
    return 0;
}
