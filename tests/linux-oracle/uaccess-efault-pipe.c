/* uaccess-efault-pipe.vms: write(pipe, 0x10, 5) returns -EFAULT and raises no signal. */
#include "oracle.h"

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    int p[2];
    if (pipe(p) != 0) die("pipe");
    long r = 0;
    if (sigsetjmp(caught_at, 1) == 0) r = ret_of(write(p[1], unmapped_0x10, 5));
    printf("ret %ld\n", r);
    print_signal("signal");
    return 0;
}
