/* The native half of bench/validate-timing.sh: fault-heavy microbenchmarks that `vmlab calibrate` does not use, each
 * the exact sequence of its scenario NAME.vms beside this file (same pages, same order). The timed part is what the
 * scenario does after its `reset`; what comes before is set-up, done outside the timer here too.
 *
 * Usage: native REPEAT [steps]
 * Each benchmark runs once to warm up, then REPEAT times. With `steps` (diagnosis), nothing else runs: unmap-protect's
 * calls are timed one by one and printed as "step NAME FASTEST_NS MEDIAN_NS" over REPEAT runs.
 * Prints "zero_page 1" when a read fault on fresh anonymous memory maps the shared zero page (0: this kernel allocates
 * a frame instead, as tests/linux-oracle/kernel-zero-page.c finds), then one line per benchmark: "NAME NS MINFLT" — the timed part's CPU nanoseconds (user and system) in the fastest of the REPEAT runs (on a
 * shared machine other work only slows a run down), and the minor faults (getrusage) it took. Pinned to one CPU, transparent huge pages off, as calibrate.c. A set-up
 * failure prints "error ..." on stderr and exits 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define MAX_REPEAT 101
#define SIGNAL_ROUNDS 64

static void die(const char *what)
{
    fprintf(stderr, "error %s: %s\n", what, strerror(errno));
    exit(2);
}

/* The process's CPU time, not the wall clock: time the scheduler gave to other processes on a busy machine is not
 * counted, while the kernel's work for this process (faults, system calls, signals) is. */
static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static long minflt(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) die("getrusage");
    return ru.ru_minflt;
}

static char *map_anon(size_t pages)
{
    char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    if (madvise(p, pages * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise(MADV_NOHUGEPAGE)");
    return p;
}

static void write_every_page(char *p, size_t pages, char value)
{
    for (size_t i = 0; i < pages; i++) ((volatile char *)p)[i * PAGE] = value;
}

static void read_every_page(char *p, size_t pages)
{
    for (size_t i = 0; i < pages; i++) (void)((volatile char *)p)[i * PAGE];
}

/* After a fork the stack pages are shared copy-on-write with the child: the first write to each faults. Writing
 * 64 KiB of stack makes them the parent's own before the timed part (as tests/linux-oracle/oracle.h does). */
static void __attribute__((noinline)) warm_stack(void)
{
    volatile char pad[64 * 1024];
    for (size_t i = 0; i < sizeof pad; i += 512) pad[i] = 0;
}

/* One run's timed nanoseconds and minor faults. */
struct run { double ns; long faults; };

/* first-touch-mix.vms */
static struct run first_touch_mix(void)
{
    char *a = map_anon(1024);
    long f0 = minflt();
    uint64_t t0 = now_ns();
    read_every_page(a, 512);
    write_every_page(a + 512 * PAGE, 512, 1);
    write_every_page(a, 256, 1);
    read_every_page(a + 256 * PAGE, 256);
    uint64_t t1 = now_ns();
    struct run r = { (double)(t1 - t0), minflt() - f0 };
    munmap(a, 1024 * PAGE);
    return r;
}

/* fork-cow.vms */
static struct run fork_cow(void)
{
    char *a = map_anon(512);
    write_every_page(a, 512, 0x11);
    int go[2];
    if (pipe(go) != 0) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0)
    {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) < 0) _exit(3);
        _exit(0);
    }
    close(go[0]);
    warm_stack();
    long f0 = minflt();
    uint64_t t0 = now_ns();
    write_every_page(a, 256, 0x22);
    close(go[1]);                                   /* child exit */
    if (waitpid(child, NULL, 0) != child) die("waitpid");
    write_every_page(a + 256 * PAGE, 256, 0x33);
    uint64_t t1 = now_ns();
    struct run r = { (double)(t1 - t0), minflt() - f0 };
    munmap(a, 512 * PAGE);
    return r;
}

/* unmap-protect's calls one by one (`native REPEAT steps`): the same sequence as unmap_protect, each call timed. */
#define STEPS 7
static const char *const step_names[STEPS] = { "mprotect-ro-512", "mprotect-rw-512", "munmap-upper-256", "mmap-256",
                                               "first-writes-256", "munmap-lower-256", "munmap-new-256" };

static void unmap_protect_steps(double ns[STEPS])
{
    char *a = map_anon(512);
    write_every_page(a, 512, 1);
    uint64_t t[STEPS + 1];
    t[0] = now_ns();
    if (mprotect(a, 512 * PAGE, PROT_READ) != 0) die("mprotect");
    t[1] = now_ns();
    if (mprotect(a, 512 * PAGE, PROT_READ | PROT_WRITE) != 0) die("mprotect");
    t[2] = now_ns();
    if (munmap(a + 256 * PAGE, 256 * PAGE) != 0) die("munmap");
    t[3] = now_ns();
    char *b = mmap(NULL, 256 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) die("mmap");
    t[4] = now_ns();
    write_every_page(b, 256, 1);
    t[5] = now_ns();
    if (munmap(a, 256 * PAGE) != 0) die("munmap");
    t[6] = now_ns();
    if (munmap(b, 256 * PAGE) != 0) die("munmap");
    t[7] = now_ns();
    for (int i = 0; i < STEPS; i++) ns[i] = (double)(t[i + 1] - t[i]);
}

/* unmap-protect.vms */
static struct run unmap_protect(void)
{
    char *a = map_anon(512);
    write_every_page(a, 512, 1);
    long f0 = minflt();
    uint64_t t0 = now_ns();
    if (mprotect(a, 512 * PAGE, PROT_READ) != 0) die("mprotect");
    if (mprotect(a, 512 * PAGE, PROT_READ | PROT_WRITE) != 0) die("mprotect");
    if (munmap(a + 256 * PAGE, 256 * PAGE) != 0) die("munmap");
    char *b = mmap(NULL, 256 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) die("mmap");
    write_every_page(b, 256, 1);
    if (munmap(a, 256 * PAGE) != 0) die("munmap");
    if (munmap(b, 256 * PAGE) != 0) die("munmap");
    uint64_t t1 = now_ns();
    return (struct run){ (double)(t1 - t0), minflt() - f0 };
}

static char *signal_page;

static void on_segv(int sig)
{
    (void)sig;
    if (mprotect(signal_page, PAGE, PROT_READ | PROT_WRITE) != 0) _exit(4);
}

/* signals.vms */
static struct run signals(void)
{
    signal_page = map_anon(1);
    signal_page[0] = 1;
    if (mprotect(signal_page, PAGE, PROT_READ) != 0) die("mprotect");
    struct sigaction sa = { 0 };
    sa.sa_handler = on_segv;
    if (sigaction(SIGSEGV, &sa, NULL) != 0) die("sigaction");
    long f0 = minflt();
    uint64_t t0 = now_ns();
    for (int i = 0; i < SIGNAL_ROUNDS; i++)
    {
        ((volatile char *)signal_page)[8] = 0x5a;
        if (mprotect(signal_page, PAGE, PROT_READ) != 0) die("mprotect");
    }
    uint64_t t1 = now_ns();
    struct run r = { (double)(t1 - t0), minflt() - f0 };
    signal(SIGSEGV, SIG_DFL);
    munmap(signal_page, PAGE);
    return r;
}

/* 1 when a write after a read of fresh anonymous pages faults again (the read mapped the zero page), else 0. */
static int zero_page(void)
{
    char *a = map_anon(8);
    read_every_page(a, 8);
    long f0 = minflt();
    write_every_page(a, 8, 1);
    long faults = minflt() - f0;
    munmap(a, 8 * PAGE);
    return faults >= 8;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench(const char *name, struct run (*run)(void), int repeat)
{
    double ns[MAX_REPEAT];
    long faults = -1;
    run(); /* a warm-up, not counted: its first calls fault in code and data the later runs find mapped */
    for (int r = 0; r < repeat; r++)
    {
        struct run one = run();
        ns[r] = one.ns;
        if (faults >= 0 && one.faults != faults)
            fprintf(stderr, "warning %s: %ld minor faults in one run, %ld in another\n", name, faults, one.faults);
        faults = one.faults;
    }
    /* The fastest run: on a shared machine other work only ever slows a run down. */
    qsort(ns, (size_t)repeat, sizeof *ns, compare_double);
    printf("%s %.0f %ld\n", name, ns[0], faults);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int repeat = argc == 2 || (argc == 3 && strcmp(argv[2], "steps") == 0) ? atoi(argv[1]) : 0;
    if (repeat < 1 || repeat > MAX_REPEAT)
    {
        fprintf(stderr, "error usage: native REPEAT [steps] (REPEAT 1 to %d)\n", MAX_REPEAT);
        return 2;
    }
    cpu_set_t set;
    int cpu = sched_getcpu();
    if (cpu < 0) die("sched_getcpu");
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) die("prctl(PR_SET_THP_DISABLE)");
    if (argc == 3)
    {
        /* Diagnosis: each call of unmap-protect, the fastest and the median of REPEAT runs after a warm-up. */
        double all[STEPS][MAX_REPEAT], one[STEPS];
        unmap_protect_steps(one);
        for (int r = 0; r < repeat; r++)
        {
            unmap_protect_steps(one);
            for (int i = 0; i < STEPS; i++) all[i][r] = one[i];
        }
        for (int i = 0; i < STEPS; i++)
        {
            qsort(all[i], (size_t)repeat, sizeof all[i][0], compare_double);
            printf("step %s %.0f %.0f\n", step_names[i], all[i][0], all[i][repeat / 2]);
        }
        return 0;
    }
    printf("zero_page %d\n", zero_page());
    bench("first-touch-mix", first_touch_mix, repeat);
    bench("fork-cow", fork_cow, repeat);
    bench("unmap-protect", unmap_protect, repeat);
    bench("signals", signals, repeat);
    return 0;
}
