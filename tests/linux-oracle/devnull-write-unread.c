/* devnull-write-unread.vms: write(/dev/null, 0x10, 5) returns 5: write_null never reads the user buffer, so no
 * fault is taken and no signal raised; /dev/zero's write is the same function. */
#include "oracle.h"

int main(void)
{
    pin();
    catch_signal(SIGSEGV);
    int n = open("/dev/null", O_WRONLY);
    if (n < 0) die("open /dev/null");
    long r = 0;
    struct faults before = faults_now(RUSAGE_SELF);
    if (sigsetjmp(caught_at, 1) == 0) r = ret_of(write(n, unmapped_0x10, 5));
    int z = open("/dev/zero", O_WRONLY);
    if (z < 0) die("open /dev/zero");
    volatile long rz = 0;
    if (sigsetjmp(caught_at, 1) == 0) rz = ret_of(write(z, unmapped_0x10, 5));
    struct faults f = faults_since(before);
    printf("ret %ld\nzero.ret %ld\nminflt %ld\n", r, rz, f.minflt);
    print_signal("signal");
    return 0;
}
