/* oracle-segv-kernel-address.vms: a user write to 0xffffffff81000000 (kernel text) -> SIGSEGV, SEGV_MAPERR,
 * si_addr = that address; without a handler the process is killed by SIGSEGV. */
#include "oracle.h"

static void write_kernel(void) { *(volatile char *)0xffffffff81000000UL = 1; }

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    if (sigsetjmp(caught_at, 1) == 0) write_kernel();
    print_signal("signal");
    printf("signal.addr %lu\n", (unsigned long)(uintptr_t)caught_addr);
    print_death("killed", write_kernel);
    return 0;
}
