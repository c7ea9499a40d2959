/* cow-reuse-after-child-exit.vms: after fork and the child's exit the parent holds the only reference to each page:
 * its write faults (100, one per page) reuse the pages in place: the frames stay the same. */
#include "oracle.h"

enum { N = 100 };
static uint64_t before_pfn[N];

int main(void)
{
    pin();
    volatile char *a = map_anon(N, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 5;
    for (size_t i = 0; i < N; i++) before_pfn[i] = pfn_of((const void *)(a + i * PAGE));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    warm_stack(); /* the stack pages shared with the child are this process's own before the measured part */
    struct faults before = faults_now(RUSAGE_SELF);
    before = faults_now(RUSAGE_SELF); /* the first store to `before` may copy its shared stack page: not measured */
    for (size_t i = 0; i < N; i++) a[i * PAGE] = 6;
    struct faults f = faults_since(before);
    long reused = 0, copied = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t pfn = pfn_of((const void *)(a + i * PAGE));
        if (pfn == before_pfn[i]) reused++;
        else copied++;
    }
    printf("minflt %ld\nreused %ld\ncopied %ld\nchild.exit %d\n", f.minflt, reused, copied,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
