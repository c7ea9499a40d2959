/* stack-growth.vms: a MAP_GROWSDOWN mapping grows on a fault just below it (one minor fault); growing past
 * RLIMIT_STACK (8 MiB) is SEGV_MAPERR; growing so that the gap to the mapping below would drop under the 256-page
 * stack guard gap is SEGV_MAPERR. The scenario's fixed addresses are replaced by the same layout inside a free area
 * of this process (only distances matter). */
#include "oracle.h"

static char *place(char *at, size_t pages, int flags)
{
    char *p = mmap(at, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | flags, -1, 0);
    if (p != at) die("mmap fixed");
    if (madvise(p, pages * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise");
    return p;
}

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    struct rlimit rl = { 8UL << 20, 8UL << 20 };
    if (setrlimit(RLIMIT_STACK, &rl) != 0) die("setrlimit");
    /* A free area of 4 GiB + 1 MiB: below at its start, the stack 4 GiB above (the scenario's 0x7ffe.. and 0x7fff..). */
    char *area = mmap(NULL, (4UL << 30) + (4UL << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED) die("mmap area");
    area = (char *)(((uintptr_t)area + (1UL << 20) - 1) & ~((1UL << 20) - 1));
    if (munmap(area, (4UL << 30) + (2UL << 20)) != 0) die("munmap area");

    place(area, 1, 0);
    volatile char *stack = place(area + (4UL << 30), 4, MAP_GROWSDOWN);
    struct faults before = faults_now(RUSAGE_SELF);
    if (sigsetjmp(caught_at, 1) == 0) stack[-1] = 1;
    struct faults f = faults_since(before);
    printf("grow.minflt %ld\n", f.minflt);
    print_signal("grow.signal");
    if (sigsetjmp(caught_at, 1) == 0) stack[-(8L << 20)] = 2;
    print_signal("rlimit.signal");
    printf("rlimit.signal.addr_is_fault %d\n", caught_addr == (void *)(stack - (8L << 20)));

    /* The stack starts 257 pages above the end of the mapping below: one page of growth leaves the 256-page gap. */
    caught_signo = 0;
    char *below2 = area + (2UL << 20);
    place(below2, 1, 0);
    volatile char *stack2 = place(below2 + 0x102000, 4, MAP_GROWSDOWN);
    before = faults_now(RUSAGE_SELF);
    if (sigsetjmp(caught_at, 1) == 0) stack2[-4096] = 1;
    f = faults_since(before);
    printf("gap.minflt %ld\n", f.minflt);
    print_signal("gap.signal");
    if (sigsetjmp(caught_at, 1) == 0) stack2[-8192] = 1;
    print_signal("guard.signal");
    printf("guard.signal.addr_is_fault %d\n", caught_addr == (void *)(stack2 - 8192));
    return 0;
}
