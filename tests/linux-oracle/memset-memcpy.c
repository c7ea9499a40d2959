/* memset-memcpy.vms: multi-byte stores and copies as a user-mode loop makes them, one byte after another in rising
 * address order (volatile, so the compiler calls no libc memset, whose vector code may store the last bytes first).
 * memset of 10 pages less 100 bytes at each end: one write fault per page touched (10). memcpy of 10 resident pages to
 * fresh memory: one write fault per destination page (10), each a new frame (the source's frames stay its own). A memset running into a read-only page
 * stops there: SIGSEGV SEGV_ACCERR at that page's first byte, the two pages before it written. */
#include "oracle.h"

enum { N = 10 };

static void set_bytes(volatile char *d, int v, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = (char)v;
}

static void copy_bytes(volatile char *d, const volatile char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = s[i];
}

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    struct faults before = faults_now(RUSAGE_SELF);
    set_bytes(a + 100, 0x5a, N * PAGE - 200);
    struct faults f = faults_since(before);
    printf("memset.minflt %ld\nmemset.resident %ld\n", f.minflt, pages_with(0, (const void *)a, N, PM_PRESENT));
    printf("memset.value %d\nmemset.before %d\nmemset.after %d\n", a[5 * PAGE], a[99], a[N * PAGE - 100]);

    volatile char *b = map_anon(N, PROT_READ | PROT_WRITE);
    before = faults_now(RUSAGE_SELF);
    copy_bytes(b, a, N * PAGE);
    f = faults_since(before);
    printf("memcpy.minflt %ld\nmemcpy.resident %ld\nmemcpy.same_frame %ld\n", f.minflt, pages_with(0, (const void *)b, N, PM_PRESENT),
           (long)(pfn_of((const void *)(b + 7 * PAGE)) == pfn_of((const void *)(a + 7 * PAGE))));
    printf("memcpy.value %d\nmemcpy.edge %d\n", b[7 * PAGE + 1], b[N * PAGE - 1]);

    volatile char *c = map_anon(4, PROT_READ | PROT_WRITE);
    if (mprotect((void *)(c + 2 * PAGE), PAGE, PROT_READ) != 0) die("mprotect");
    before = faults_now(RUSAGE_SELF);
    if (sigsetjmp(caught_at, 1) == 0) set_bytes(c, 1, 4 * PAGE);
    f = faults_since(before);
    print_signal("stopped.signal");
    printf("stopped.signal.addr_is_fault %ld\n", (long)(caught_addr == (void *)(c + 2 * PAGE)));
    printf("stopped.resident %ld\nstopped.minflt %ld\n", pages_with(0, (const void *)c, 4, PM_PRESENT), f.minflt);
    return 0;
}
