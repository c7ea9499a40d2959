/* munmap-then-access.vms: unmapping the middle of a mapping keeps the pages around it with their data; an access
 * to the hole is SIGSEGV, SEGV_MAPERR at the address. */
#include "oracle.h"

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    volatile char *a = map_anon(10, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < 10; i++) a[i * PAGE] = 0x31;
    long r = ret_of(munmap((void *)(a + 4 * PAGE), 2 * PAGE));
    printf("ret %ld\nvalue_below %d\nvalue_above %d\n", r, a[3 * PAGE], a[6 * PAGE]);
    if (sigsetjmp(caught_at, 1) == 0) (void)a[5 * PAGE];
    print_signal("signal");
    printf("signal.addr_is_fault %d\n", caught_addr == (void *)(a + 5 * PAGE));
    return 0;
}
