/* oracle-rewrite-resident.vms: rewriting N = 1000 resident writable pages costs no fault. */
#include "oracle.h"

int main(void)
{
    enum { N = 1000 };
    pin();
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    struct faults before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 1;
    struct faults first = faults_since(before);
    before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 2;
    struct faults again = faults_since(before);
    printf("minflt %ld\nrewrite.minflt %ld\nrewrite.majflt %ld\n", first.minflt, again.minflt, again.majflt);
    return 0;
}
