/* madvise-fork.vms: what fork gives the child of ranges advised DONTFORK, WIPEONFORK, and DONTFORK or WIPEONFORK
 * undone by DOFORK or KEEPONFORK. A DONTFORK range is not mapped in the child (a read: SIGSEGV SEGV_MAPERR); a
 * WIPEONFORK range is mapped empty (a read: zero, one minor fault); the undone ones keep the parent's data with no
 * fault; the parent keeps its own. WIPEONFORK of shared anonymous memory is -EINVAL. */
#include "oracle.h"

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    volatile char *a = map_anon(2, PROT_READ | PROT_WRITE), *b = map_anon(2, PROT_READ | PROT_WRITE);
    volatile char *c = map_anon(2, PROT_READ | PROT_WRITE), *d = map_anon(2, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < 2; i++) a[i * PAGE] = 0x11, b[i * PAGE] = 0x22, c[i * PAGE] = 0x33, d[i * PAGE] = 0x44;
    printf("dontfork.ret %ld\n", ret_of(madvise((void *)a, 2 * PAGE, MADV_DONTFORK)));
    printf("wipeonfork.ret %ld\n", ret_of(madvise((void *)b, 2 * PAGE, MADV_WIPEONFORK)));
    if (madvise((void *)c, 2 * PAGE, MADV_DONTFORK) != 0) die("madvise(MADV_DONTFORK)");
    printf("dofork.ret %ld\n", ret_of(madvise((void *)c, 2 * PAGE, MADV_DOFORK)));
    if (madvise((void *)d, 2 * PAGE, MADV_WIPEONFORK) != 0) die("madvise(MADV_WIPEONFORK)");
    printf("keeponfork.ret %ld\n", ret_of(madvise((void *)d, 2 * PAGE, MADV_KEEPONFORK)));
    char *s = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) die("mmap shared");
    printf("wipe_shared.ret %ld\n", ret_of(madvise(s, 2 * PAGE, MADV_WIPEONFORK)));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        warm_stack();
        struct faults before = faults_now(RUSAGE_SELF);
        before = faults_now(RUSAGE_SELF);
        int wiped = b[0];
        struct faults f = faults_since(before);
        before = faults_now(RUSAGE_SELF);
        int dofork = c[0], keeponfork = d[PAGE];
        struct faults g = faults_since(before);
        printf("child.wiped %d\nchild.wiped.minflt %ld\nchild.dofork %d\nchild.keeponfork %d\nchild.kept.minflt %ld\n",
               wiped, f.minflt, dofork, keeponfork, g.minflt);
        if (sigsetjmp(caught_at, 1) == 0) (void)a[0];
        print_signal("child.signal");
        printf("child.signal.addr_is_fault %d\n", caught_addr == (void *)a);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the child");
    printf("parent.wiped %d\nparent.dontfork %d\n", b[0], a[PAGE]);
    return 0;
}
