/* uaccess-efault-readonly.vms: read(/dev/zero, a read-only page, 10) returns -EFAULT and raises no signal. */
#include "oracle.h"

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    volatile char *ro = map_anon(1, PROT_READ);
    (void)ro[0];
    int z = open("/dev/zero", O_RDONLY);
    if (z < 0) die("open /dev/zero");
    long r = 0;
    if (sigsetjmp(caught_at, 1) == 0) r = ret_of(read(z, (void *)ro, 10));
    printf("ret %ld\n", r);
    print_signal("signal");
    return 0;
}
