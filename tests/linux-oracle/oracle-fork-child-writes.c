/* oracle-fork-child-writes.vms: fork; the child writes N = 1000 pages the parent had written -> N minor faults in
 * the child, each a copy (the child's frame differs from the parent's); rewriting them again: 0. No signal. */
#include "oracle.h"

enum { N = 1000 };
static uint64_t parent_pfn[N];

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    struct faults before = faults_now(RUSAGE_SELF);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 0x11;
    struct faults f = faults_since(before);
    printf("parent.minflt %ld\n", f.minflt);
    for (size_t i = 0; i < N; i++) parent_pfn[i] = pfn_of((const void *)(a + i * PAGE));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        warm_stack(); /* the child's own stack pages are copied before the measured part */
        before = faults_now(RUSAGE_SELF);
        before = faults_now(RUSAGE_SELF); /* the first store to `before` may copy its shared stack page: not measured */
        for (size_t i = 0; i < N; i++) a[i * PAGE] = 0x42;
        struct faults c = faults_since(before);
        long copies = 0;
        for (size_t i = 0; i < N; i++) {
            uint64_t pfn = pfn_of((const void *)(a + i * PAGE));
            if (pfn != 0 && pfn != parent_pfn[i]) copies++;
        }
        before = faults_now(RUSAGE_SELF);
        for (size_t i = 0; i < N; i++) a[i * PAGE] = 0x43;
        struct faults again = faults_since(before);
        printf("child.minflt %ld\nchild.copies %ld\nchild.rewrite.minflt %ld\n", c.minflt, copies, again.minflt);
        print_signal("child.signal");
        printf("child.value %d\n", a[PAGE]);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    printf("parent.value %d\n", a[PAGE]);
    return 0;
}
