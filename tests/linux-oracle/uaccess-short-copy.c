/* uaccess-short-copy.vms: copies that cross from a mapped page into a hole.
 *  - read(/dev/zero, buf, 10) with 3 mapped bytes before the hole returns 3;
 *  - write(pipe, buf, 10) with only the first 6 bytes mapped returns -EFAULT and queues nothing (fs/pipe.c copies
 *    whole chunks and drops a chunk that faults), also when the pipe already holds data;
 *  - write(regular file, the same buf, 10) returns the short count 6 and the file is 6 bytes long.
 * No signal in any of them. */
#include "oracle.h"

int main(int argc, char **argv)
{
    pin();
    catch_signal(SIGSEGV);
    if (argc < 2) { fprintf(stderr, "error usage: %s SCRATCH-DIR\n", argv[0]); return 2; }
    /* Two pages reserved, the second unmapped: a hole right after the first. */
    char *a = map_anon(2, PROT_READ | PROT_WRITE);
    if (munmap(a + PAGE, PAGE) != 0) die("munmap");
    a[0] = 7;
    int z = open("/dev/zero", O_RDONLY);
    if (z < 0) die("open /dev/zero");
    memset(a + PAGE - 3, 0x55, 3);
    printf("zero.ret %ld\n", ret_of(read(z, a + PAGE - 3, 10)));
    printf("zero.value %d\n", a[PAGE - 3]);

    int p[2];
    if (pipe(p) != 0) die("pipe");
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) die("fcntl");
    printf("pipe.ret %ld\n", ret_of(write(p[1], a + PAGE - 6, 10)));
    char back[64];
    printf("pipe.queued %ld\n", ret_of(read(p[0], back, sizeof back))); /* -EAGAIN: nothing was queued */
    if (write(p[1], "hello", 5) != 5) die("write pipe");
    printf("pipe.full_ret %ld\n", ret_of(write(p[1], a + PAGE - 6, 10)));
    printf("pipe.full_queued %ld\n", ret_of(read(p[0], back, sizeof back)));

    char path[4096];
    snprintf(path, sizeof path, "%s/uaccess-short-copy.out", argv[1]);
    int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (f < 0) die("open scratch file");
    printf("file.ret %ld\n", ret_of(write(f, a + PAGE - 6, 10)));
    int g = open(path, O_RDONLY);
    if (g < 0) die("open scratch file again");
    printf("file.size %ld\n", ret_of(read(g, back, sizeof back)));
    close(g);
    close(f);
    unlink(path);
    print_signal("signal");
    return 0;
}
