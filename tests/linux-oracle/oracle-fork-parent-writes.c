/* oracle-fork-parent-writes.vms: the parent writes N = 1000 pages while its child is alive -> N minor faults in the
 * parent, each a copy; the child still reads the data from before the fork and takes no fault for it. */
#include "oracle.h"

enum { N = 1000 };
static uint64_t before_pfn[N];

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 0x11;
    for (size_t i = 0; i < N; i++) before_pfn[i] = pfn_of((const void *)(a + i * PAGE));
    int go[2], done[2];
    if (pipe(go) != 0 || pipe(done) != 0) die("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(3); /* waits while the parent writes */
        warm_stack();
        struct faults b = faults_now(RUSAGE_SELF);
        b = faults_now(RUSAGE_SELF); /* the first store to `b` may copy its shared stack page: not measured */
        int v0 = a[8191], v1 = a[8192];
        struct faults f = faults_since(b);
        printf("child.value_before %d\nchild.value %d\nchild.minflt %ld\n", v0, v1, f.minflt);
        fflush(stdout);
        _exit(0);
    }
    warm_stack(); /* the parent's stack pages are its own before the measured part */
    struct faults before = faults_now(RUSAGE_SELF);
    before = faults_now(RUSAGE_SELF); /* the first store to `before` may copy its shared stack page: not measured */
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 0x22;
    struct faults f = faults_since(before);
    long copies = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t pfn = pfn_of((const void *)(a + i * PAGE));
        if (pfn != 0 && pfn != before_pfn[i]) copies++;
    }
    printf("parent.minflt %ld\nparent.copies %ld\n", f.minflt, copies);
    print_signal("parent.signal");
    fflush(stdout);
    if (write(go[1], "x", 1) != 1) die("write");
    int status;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    return 0;
}
