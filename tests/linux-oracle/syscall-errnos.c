/* syscall-errnos.vms: bad arguments give Linux's errno, never a silent success. mprotect over a range with a hole
 * changes the VMAs before the hole and returns -ENOMEM (a write to the first page is then SEGV_ACCERR; the page after
 * the hole keeps its protection). munmap: an unaligned address or a kernel address -EINVAL, an unmapped range 0.
 * mprotect: unaligned -EINVAL, unmapped or kernel -ENOMEM. mmap: an unaligned offset or MAP_FIXED address -EINVAL.
 * madvise of a kernel address -ENOMEM. */
#include "oracle.h"

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    volatile char *a = map_anon(3, PROT_READ | PROT_WRITE);
    if (munmap((void *)(a + PAGE), PAGE) != 0) die("munmap");
    printf("mprotect_hole.ret %ld\n", ret_of(mprotect((void *)a, 3 * PAGE, PROT_READ)));
    if (sigsetjmp(caught_at, 1) == 0) a[0] = 1;
    print_signal("mprotect_hole.signal");
    printf("mprotect_hole.signal.addr_is_fault %d\n", caught_addr == (void *)a);
    caught_signo = 0;
    if (sigsetjmp(caught_at, 1) == 0) a[2 * PAGE] = 7;
    if (caught_signo != 0) { errno = 0; die("the page after the hole lost its write permission"); }
    printf("after_hole.value %d\n", a[2 * PAGE]);
    printf("munmap_unaligned.ret %ld\n", ret_of(munmap((void *)(a + 1), PAGE)));
    printf("munmap_unmapped.ret %ld\n", ret_of(munmap((void *)(a + PAGE), PAGE)));
    printf("munmap_kernel.ret %ld\n", ret_of(munmap((void *)0xffffffff81000000UL, PAGE)));
    printf("mprotect_unaligned.ret %ld\n", ret_of(mprotect((void *)(a + 1), PAGE, PROT_READ)));
    printf("mprotect_unmapped.ret %ld\n", ret_of(mprotect((void *)(a + PAGE), PAGE, PROT_READ)));
    printf("mprotect_kernel.ret %ld\n", ret_of(mprotect((void *)0xffffffff81000000UL, PAGE, PROT_READ)));
    void *x = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 1);
    printf("mmap_offset.ret %ld\n", x == MAP_FAILED ? -(long)errno : 0L);
    x = mmap((void *)(a + 1), PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("mmap_fixed_unaligned.ret %ld\n", x == MAP_FAILED ? -(long)errno : 0L);
    printf("madvise_kernel.ret %ld\n", ret_of(madvise((void *)0xffffffff81000000UL, PAGE, MADV_DONTNEED)));
    return 0;
}
