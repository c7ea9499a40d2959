/* oracle-segv-null.vms: a write to address 0x10 (nothing mapped) -> SIGSEGV, SEGV_MAPERR, si_addr 0x10; it counts
 * as no minor or major fault; without a handler the process is killed by SIGSEGV. */
#include "oracle.h"

static void write_null(void) { *(volatile char *)0x10 = 1; }

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    struct faults before = faults_now(RUSAGE_SELF);
    if (sigsetjmp(caught_at, 1) == 0) write_null();
    struct faults f = faults_since(before);
    print_signal("signal");
    printf("signal.addr %lu\nminflt %ld\n", (unsigned long)(uintptr_t)caught_addr, f.minflt);
    print_death("killed", write_null);
    return 0;
}
