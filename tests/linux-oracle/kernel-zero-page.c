/* Not paired with a scenario: a property of the kernel under test that the runner reads first. Prints "zero_page 1"
 * when a read fault on fresh private anonymous memory maps the shared zero page (as mainline mm/memory.c's
 * do_anonymous_page does), "zero_page 0" when the kernel allocates a frame instead (a patched kernel). With 0 the
 * scenarios are compared with VmLab's demand-zero and stack-growth handlers' zeroPage option off. */
#include "oracle.h"

int main(void)
{
    enum { N = 8 };
    pin();
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < N; i++) (void)a[i * PAGE];
    struct faults before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 1;
    struct faults f = faults_since(before);
    /* The zero page is mapped read-only: each write after a read faults again to replace it with a frame. A kernel
     * that allocated a writable frame on the read takes no fault here. (Counted by faults, not by pagemap frames,
     * so the answer does not depend on being allowed to see frame numbers.) */
    if (f.minflt != 0 && f.minflt != N) {
        fprintf(stderr, "error %ld write faults after reading %d pages: neither 0 nor %d\n", f.minflt, N, N);
        return 2;
    }
    printf("zero_page %d\n", f.minflt == N);
    return 0;
}
