/* oracle-segv-readonly.vms: a write to a PROT_READ page at offset 5 -> SIGSEGV, SEGV_ACCERR, si_addr = page + 5.
 * The read before it maps the zero page: one minor fault; the failed write counts none. */
#include "oracle.h"

static volatile char *ro;
static void write_ro(void) { ro[5] = 7; }

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    ro = map_anon(1, PROT_READ);
    struct faults before = faults_now(RUSAGE_SELF);
    int v = ro[0];
    if (sigsetjmp(caught_at, 1) == 0) write_ro();
    struct faults f = faults_since(before);
    printf("value %d\n", v);
    print_signal("signal");
    printf("signal.addr_is_fault %d\nminflt %ld\n", caught_addr == (void *)(ro + 5), f.minflt);
    print_death("killed", write_ro);
    return 0;
}
