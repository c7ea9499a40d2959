/* prot-none-accerr.vms: any access to a PROT_NONE mapping is SIGSEGV, SEGV_ACCERR at the address. */
#include "oracle.h"

static volatile char *guard;
static void read_guard(void) { (void)guard[100]; }

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    guard = map_anon(4, PROT_NONE);
    if (sigsetjmp(caught_at, 1) == 0) read_guard();
    print_signal("signal");
    printf("signal.addr_is_fault %d\n", caught_addr == (void *)(guard + 100));
    print_death("killed", read_guard);
    return 0;
}
