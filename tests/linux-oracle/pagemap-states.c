/* pagemap-states.vms: what /proc/PID/pagemap shows of private anonymous pages. A written page is present and
 * exclusively mapped (bit 56: mapped once); an untouched one is not present; a PROT_NONE page keeps its frame and is
 * present. After fork the child's page is the parent's frame, mapped twice, so neither side's is exclusive; the
 * child's write copies it (a new frame), after which both sides' pages are exclusive again. The parent reads the
 * child's pagemap (/proc/PID/pagemap, root) while the child waits on a pipe, so the child's mappings are still there. */
#include "oracle.h"

static long has(uint64_t e, uint64_t bits) { return (e & bits) == bits; }

int main(void)
{
    pin();
    volatile char *a = map_anon(4, PROT_READ | PROT_WRITE);
    a[0] = 1;
    a[PAGE] = 2;
    a[3 * PAGE] = 4;
    if (mprotect((void *)(a + 3 * PAGE), PAGE, PROT_NONE) != 0) die("mprotect");
    uint64_t e0 = pagemap_of(0, (const void *)a), e2 = pagemap_of(0, (const void *)(a + 2 * PAGE));
    uint64_t e3 = pagemap_of(0, (const void *)(a + 3 * PAGE));
    printf("written.present %ld\nwritten.exclusive %ld\nwritten.swapped %ld\nwritten.file %ld\n",
           has(e0, PM_PRESENT), has(e0, PM_EXCLUSIVE), has(e0, PM_SWAP), has(e0, PM_FILE));
    printf("untouched.present %ld\nuntouched.swapped %ld\n", has(e2, PM_PRESENT), has(e2, PM_SWAP));
    printf("protnone.present %ld\n", has(e3, PM_PRESENT));
    printf("resident %ld\n", pages_with(0, (const void *)a, 4, PM_PRESENT));

    int go[2], ready[2];
    if (pipe(go) != 0 || pipe(ready) != 0) die("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(3);   /* step 1: the parent has looked at the shared page */
        a[0] = 3;                                  /* the copy */
        if (write(ready[1], "x", 1) != 1) _exit(3);
        if (read(go[0], &c, 1) != 1) _exit(3);   /* step 2: the parent has looked again */
        _exit(0);
    }
    uint64_t pe = pagemap_of(0, (const void *)a), ce = pagemap_of(pid, (const void *)a);
    printf("child.present %ld\nchild.exclusive %ld\nparent.shared_exclusive %ld\nchild.same_frame %ld\n",
           has(ce, PM_PRESENT), has(ce, PM_EXCLUSIVE), has(pe, PM_EXCLUSIVE), (long)((ce & PM_PFN) == (pe & PM_PFN)));
    char c;
    if (write(go[1], "x", 1) != 1 || read(ready[0], &c, 1) != 1) die("pipe to the child");
    pe = pagemap_of(0, (const void *)a);
    ce = pagemap_of(pid, (const void *)a);
    uint64_t pe1 = pagemap_of(0, (const void *)(a + PAGE)), ce1 = pagemap_of(pid, (const void *)(a + PAGE));
    printf("copied.same_frame %ld\ncopied.exclusive %ld\nparent.exclusive %ld\nother.same_frame %ld\nother.exclusive %ld\n",
           (long)((ce & PM_PFN) == (pe & PM_PFN)), has(ce, PM_EXCLUSIVE), has(pe, PM_EXCLUSIVE),
           (long)((ce1 & PM_PFN) == (pe1 & PM_PFN)), has(pe1, PM_EXCLUSIVE));
    if (write(go[1], "x", 1) != 1) die("pipe to the child");
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the child");
    return 0;
}
