/* pipe-devices.vms: pipes as fs/pipe.c and /dev/zero, /dev/null as drivers/char/mem.c behave.
 *  - a write after the last read end is closed is -EPIPE (SIGPIPE ignored), checked before the buffer is read (a bad
 *    buffer is still -EPIPE); without a handler SIGPIPE kills the writer, no core; while a forked child still holds a
 *    read end the write succeeds;
 *  - a pipe holds 64 KiB: a write of 65536 bytes into an empty pipe is taken whole (O_NONBLOCK here, so nothing waits);
 *  - mmap of /dev/zero: private is anonymous memory (pagemap: not a file page), written pages fault once each; shared
 *    is one shared anonymous object a forked child's write shows in the parent (pagemap: a file page, shmem);
 *  - mmap of /dev/null and of a pipe: -ENODEV. */
#include "oracle.h"

static void write_to_closed_pipe(void)
{
    int p[2];
    if (pipe(p) != 0) _exit(2);
    close(p[0]);
    (void)write(p[1], "x", 1);
}

int main(void)
{
    pin();
    char *buf = map_anon(16, PROT_READ | PROT_WRITE);
    memset(buf, 0x11, 16 * PAGE);

    signal(SIGPIPE, SIG_IGN);
    int p[2];
    if (pipe(p) != 0) die("pipe");
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) { pause(); _exit(0); } /* holds a read end until killed */
    close(p[0]);
    printf("shared_reader.ret %ld\n", ret_of(write(p[1], buf, 5)));
    kill(child, SIGKILL);
    if (waitpid(child, NULL, 0) != child) die("waitpid");
    printf("epipe.ret %ld\n", ret_of(write(p[1], buf, 5)));
    printf("epipe.bad_buffer %ld\n", ret_of(write(p[1], (const void *)unmapped_0x10, 5)));
    signal(SIGPIPE, SIG_DFL);
    print_death("killed", write_to_closed_pipe);

    int q[2];
    if (pipe(q) != 0) die("pipe");
    if (fcntl(q[1], F_SETFL, O_NONBLOCK) != 0) die("fcntl");
    printf("capacity.ret %ld\n", ret_of(write(q[1], buf, 16 * PAGE)));
    printf("pipe_mmap.ret %ld\n", mmap(NULL, PAGE, PROT_READ, MAP_SHARED, q[0], 0) == MAP_FAILED ? -(long)errno : 0L);

    int z = open("/dev/zero", O_RDWR);
    if (z < 0) die("open /dev/zero");
    volatile char *priv = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, z, 0);
    if (priv == MAP_FAILED) die("mmap /dev/zero private");
    if (madvise((void *)priv, 2 * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise");
    struct faults before = faults_now(RUSAGE_SELF);
    priv[0] = 0x33;
    priv[PAGE] = 0x34;
    printf("private.minflt %ld\n", faults_since(before).minflt);
    printf("private.value %d\nprivate.unwritten %d\n", priv[0], priv[1]);
    printf("private.file %d\n", (pagemap_of(0, (const void *)priv) & PM_FILE) != 0);

    volatile char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
    if (shared == MAP_FAILED) die("mmap /dev/zero shared");
    fflush(stdout);
    child = fork();
    if (child < 0) die("fork");
    if (child == 0) { shared[0] = 0x5a; _exit(0); }
    if (waitpid(child, NULL, 0) != child) die("waitpid");
    printf("shared.value %d\n", shared[0]);
    printf("shared.file %d\n", (pagemap_of(0, (const void *)shared) & PM_FILE) != 0);

    int n = open("/dev/null", O_RDWR);
    if (n < 0) die("open /dev/null");
    printf("null_mmap.ret %ld\n", mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, n, 0) == MAP_FAILED ? -(long)errno : 0L);
    return 0;
}
