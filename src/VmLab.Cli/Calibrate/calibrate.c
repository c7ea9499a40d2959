/* The host microbenchmarks of `vmlab calibrate` (docs/calibrate.md).
 *
 * Usage: calibrate REPEAT PAGES CHASE_ACCESSES SCRATCH_DIR
 *   REPEAT          runs of every benchmark; each figure printed is the median of its runs
 *   PAGES           pages touched by the fault benchmarks (their per-page cost is the run's time / PAGES)
 *   CHASE_ACCESSES  loads of each pointer chase
 *   SCRATCH_DIR     a directory for the file benchmarks' one temporary file (removed at the end)
 *
 * Prints "key value" lines on stdout, every value a number: times in nanoseconds per event (the median of REPEAT
 * runs), counts as they were measured. vmlab derives the profile's cycle costs from them. The process pins itself to
 * one CPU and turns transparent huge pages off for its mappings except the huge-page pointer chase. A benchmark that
 * cannot run here prints "skip KEY reason" on stderr and no figure; a failure of setup prints "error ..." on stderr
 * and exits 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define PAGE 4096UL
#define HUGE (2UL << 20)
#define MAX_REPEAT 101

static int repeat;
static size_t pages;
static long chase_accesses;
static const char *scratch;
static double syscall_cost;
static int home_cpu = -1, other_cpu = -1;

static void die(const char *what)
{
    fprintf(stderr, "error %s: %s\n", what, strerror(errno));
    exit(2);
}

static inline uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void figure(const char *key, double value) { printf("%s %.3f\n", key, value); fflush(stdout); }

static void skip(const char *key, const char *why) { fprintf(stderr, "skip %s %s\n", key, why); }

static void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

/* An anonymous private mapping with transparent huge pages off, nothing touched. */
static char *map_anon(size_t n)
{
    char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    if (madvise(p, n * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise(MADV_NOHUGEPAGE)");
    return p;
}

static void write_pages(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) ((volatile char *)p)[i * PAGE] = 1;
}

/* Timing in chunks: a loop of events is timed CHUNK events at a time and the median chunk is taken, so a chunk in
 * which the process was preempted (the host may be busy) or interrupted does not count. */
#define CHUNK 16
static double timer_cost; /* what one now_ns() costs, subtracted from every interval */

/* ns per page of `op` over the n pages of a (n a multiple of CHUNK), by the median chunk. */
static double per_page(char *a, size_t n, void (*op)(char *page, size_t count))
{
    size_t count = n / CHUNK;
    double *t = malloc(count * sizeof *t);
    if (!t) die("malloc");
    for (size_t c = 0; c < count; c++)
    {
        uint64_t t0 = now_ns();
        op(a + c * CHUNK * PAGE, CHUNK);
        t[c] = ((double)(now_ns() - t0) - timer_cost) / CHUNK;
    }
    double m = median(t, (int)count);
    free(t);
    return m;
}

static void op_write(char *p, size_t n) { for (size_t i = 0; i < n; i++) ((volatile char *)p)[i * PAGE] = 2; }
static void op_read(char *p, size_t n) { for (size_t i = 0; i < n; i++) (void)((volatile char *)p)[i * PAGE]; }
static void op_populate_write(char *p, size_t n) { if (madvise(p, n * PAGE, MADV_POPULATE_WRITE) != 0) die("madvise(MADV_POPULATE_WRITE)"); }
static void op_populate_read(char *p, size_t n) { if (madvise(p, n * PAGE, MADV_POPULATE_READ) != 0) die("madvise(MADV_POPULATE_READ)"); }
/* Downwards from p: the pages below p (the stack). */
static void op_write_down(char *p, size_t n) { for (size_t i = 1; i <= n; i++) ((volatile char *)p)[-(long)(i * PAGE)] = 1; }

static long minflt(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) die("getrusage");
    return ru.ru_minflt;
}

/* ---- the clock ------------------------------------------------------------------------------------------------ */

/* The core clock, measured: a chain of dependent adds retires one add per cycle, so adds / ns is GHz (the fastest
 * of 50 runs of a million adds). 0 when this
 * architecture has no chain written here (vmlab then reads /proc/cpuinfo). */
static double clock_ghz(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
    double best = 0;
    for (int r = 0; r < 50; r++)
    {
        long n = 100000, x = 0;
        uint64_t t0 = now_ns();
#if defined(__x86_64__)
        __asm__ volatile("1:\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "dec %1\n\tjnz 1b" : "+r"(x), "+r"(n) : : "cc");
#else
        __asm__ volatile("1:\n\t"
                         "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
                         "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
                         "subs %1, %1, #1\n\tb.ne 1b" : "+r"(x), "+r"(n) : : "cc");
#endif
        uint64_t t1 = now_ns();
        double ghz = 100000.0 * 10 / (double)(t1 - t0);
        if (ghz > best) best = ghz; /* a run that was preempted is only slower: the fastest is the clock */
    }
    return best;
#else
    return 0;
#endif
}

/* What one now_ns() costs, subtracted from intervals that time a single event. */
static double timer_overhead(void)
{
    double runs[MAX_REPEAT];
    for (int r = 0; r < repeat; r++)
    {
        uint64_t t0 = now_ns();
        for (int i = 0; i < 100000; i++) now_ns();
        runs[r] = (double)(now_ns() - t0) / 100000;
    }
    return median(runs, repeat);
}

/* ---- system call, faults by kind --------------------------------------------------------------------------------- */

static void bench_syscall(void)
{
    double runs[MAX_REPEAT];
    static double t[2000];
    for (int r = 0; r < repeat; r++)
    {
        for (int c = 0; c < 2000; c++)
        {
            uint64_t t0 = now_ns();
            for (int i = 0; i < CHUNK; i++) syscall(SYS_getppid);
            t[c] = ((double)(now_ns() - t0) - timer_cost) / CHUNK;
        }
        runs[r] = median(t, 2000);
    }
    syscall_cost = median(runs, repeat);
    figure("syscall_ns", syscall_cost);
}

/* First touches of fresh anonymous pages: write (demand-zero) and read (zero page), each per page; and the same
 * kernel work without the exception, through MADV_POPULATE_WRITE / MADV_POPULATE_READ (less the call's entry). */
static void bench_first_touch(void)
{
    double wr[MAX_REPEAT], rd[MAX_REPEAT], pw[MAX_REPEAT], pr[MAX_REPEAT], after[MAX_REPEAT];
    long faults_w = 0, faults_r = 0;
    for (int r = 0; r < repeat; r++)
    {
        char *a = map_anon(pages);
        long f0 = minflt();
        wr[r] = per_page(a, pages, op_write);
        faults_w = minflt() - f0;
        munmap(a, pages * PAGE);

        a = map_anon(pages);
        f0 = minflt();
        rd[r] = per_page(a, pages, op_read);
        faults_r = minflt() - f0;
        munmap(a, pages * PAGE);

        a = map_anon(pages);
        pw[r] = per_page(a, pages, op_populate_write) - syscall_cost / CHUNK;
        after[r] = per_page(a, pages, op_write); /* no fault: the pages are mapped writable */
        munmap(a, pages * PAGE);

        a = map_anon(pages);
        pr[r] = per_page(a, pages, op_populate_read) - syscall_cost / CHUNK;
        munmap(a, pages * PAGE);
    }
    figure("write_touch_ns", median(wr, repeat));
    figure("write_touch_faults_per_page", (double)faults_w / (double)pages);
    figure("read_touch_ns", median(rd, repeat));
    figure("read_touch_faults_per_page", (double)faults_r / (double)pages);
    figure("populate_write_ns", median(pw, repeat));
    figure("populated_touch_ns", median(after, repeat));
    /* 1 when a write after a read faults again: the read mapped the shared zero page (0: it allocated a frame). */
    char *z = map_anon(CHUNK);
    op_read(z, CHUNK);
    long f0 = minflt();
    op_write(z, CHUNK);
    figure("zero_page", minflt() - f0 >= CHUNK);
    munmap(z, CHUNK * PAGE);
    figure("populate_read_ns", median(pr, repeat));
}

/* A child that waits until the parent closes `go` (its end of the pipe closed in the child), then exits. */
static pid_t waiting_child(int go[2])
{
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
    return child;
}

static void release(pid_t child, int go[2])
{
    close(go[1]);
    if (waitpid(child, NULL, 0) != child) die("waitpid");
}

/* fork with a child alive (the parent's writes copy) and after the child exited (the writes reuse), per page; and
 * fork's own time with FORK_PAGES resident pages against one, per page-table page copied. */
#define FORK_PAGES 4096
static void bench_fork(void)
{
    double copy[MAX_REPEAT], reuse[MAX_REPEAT];
    long faults_copy = 0, faults_reuse = 0;
    for (int r = 0; r < repeat; r++)
    {
        int go[2];
        char *a = map_anon(pages);
        write_pages(a, pages);
        pid_t child = waiting_child(go);
        long f0 = minflt();
        copy[r] = per_page(a, pages, op_write);
        faults_copy = minflt() - f0;
        release(child, go);
        munmap(a, pages * PAGE);

        a = map_anon(pages);
        write_pages(a, pages);
        child = waiting_child(go);
        release(child, go);
        f0 = minflt();
        reuse[r] = per_page(a, pages, op_write);
        faults_reuse = minflt() - f0;
        munmap(a, pages * PAGE);
    }
    figure("cow_copy_touch_ns", median(copy, repeat));
    figure("cow_copy_faults_per_page", (double)faults_copy / (double)pages);
    figure("cow_reuse_touch_ns", median(reuse, repeat));
    figure("cow_reuse_faults_per_page", (double)faults_reuse / (double)pages);

    const int forks = 4 * repeat + 9;
    double big[4 * MAX_REPEAT + 9], small[4 * MAX_REPEAT + 9];
    for (int size = 0; size < 2; size++)
    {
        size_t n = size ? FORK_PAGES : 1;
        char *a = map_anon(n);
        write_pages(a, n);
        for (int i = 0; i < forks; i++)
        {
            int go[2];
            uint64_t t0 = now_ns();
            pid_t child = waiting_child(go);
            uint64_t t1 = now_ns();
            release(child, go);
            (size ? big : small)[i] = (double)(t1 - t0) - timer_cost;
        }
        munmap(a, n * PAGE);
    }
    figure("fork_big_ns", median(big, forks));
    figure("fork_small_ns", median(small, forks));
    figure("fork_big_pagetable_pages", (double)(FORK_PAGES / 512));
}

/* ---- signals ------------------------------------------------------------------------------------------------ */

static char *signal_page;
static volatile uint64_t handler_entered, handler_leaving;

static void on_segv(int sig, siginfo_t *info, void *context)
{
    (void)sig; (void)info; (void)context;
    handler_entered = now_ns();
    if (mprotect(signal_page, PAGE, PROT_READ | PROT_WRITE) != 0) _exit(4);
    handler_leaving = now_ns();
}

static volatile uint64_t raised_entered;

static void on_usr1(int sig, siginfo_t *info, void *context)
{
    (void)sig; (void)info; (void)context;
    raised_entered = now_ns();
}

/* A signal sent to the process itself with tgkill(2), caught by a handler that only reads the clock: from before the
 * system call to the handler's first instruction (the call's entry, queueing the signal, building the frame and
 * entering the handler), and from there to after the call returned (the handler's return and rt_sigreturn). No
 * fault and no page-table change is involved, so on a guest where touching memory is expensive this still isolates
 * the delivery. */
static void bench_raise(void)
{
    double deliver[MAX_REPEAT], back[MAX_REPEAT];
    const int rounds = 2000;
    static double d[2000], b[2000];
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGUSR1, &sa, NULL) != 0) die("sigaction");
    pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
    for (int r = 0; r < repeat; r++)
    {
        for (int i = 0; i < rounds; i++)
        {
            uint64_t t0 = now_ns();
            syscall(SYS_tgkill, pid, tid, SIGUSR1);
            uint64_t t1 = now_ns();
            d[i] = (double)(raised_entered - t0) - timer_cost;
            b[i] = (double)(t1 - raised_entered) - timer_cost;
        }
        deliver[r] = median(d, rounds);
        back[r] = median(b, rounds);
    }
    signal(SIGUSR1, SIG_DFL);
    figure("signal_raise_ns", median(deliver, repeat));
    figure("signal_raise_return_ns", median(back, repeat));
}

/* A write to a read-only page: exception and signal delivery up to the handler's first instruction; the handler
 * makes the page writable; sigreturn and the write's retry, from the handler's last instruction. */
static void bench_signal(void)
{
    double deliver[MAX_REPEAT], back[MAX_REPEAT];
    const int rounds = 2000;
    static double d[2000], b[2000];
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSEGV, &sa, NULL) != 0) die("sigaction");
    signal_page = map_anon(1);
    write_pages(signal_page, 1);
    long faults = 0;
    for (int r = 0; r < repeat; r++)
    {
        long f0 = minflt();
        for (int i = 0; i < rounds; i++)
        {
            if (mprotect(signal_page, PAGE, PROT_READ) != 0) die("mprotect");
            uint64_t t0 = now_ns();
            ((volatile char *)signal_page)[8] = (char)i;
            uint64_t t3 = now_ns();
            d[i] = (double)(handler_entered - t0) - timer_cost;
            b[i] = (double)(t3 - handler_leaving) - timer_cost;
        }
        faults = minflt() - f0;
        deliver[r] = median(d, rounds);
        back[r] = median(b, rounds);
    }
    signal(SIGSEGV, SIG_DFL);
    munmap(signal_page, PAGE);
    figure("signal_deliver_ns", median(deliver, repeat));
    figure("signal_return_ns", median(back, repeat));
    figure("signal_retry_faults_per_round", (double)faults / rounds);
}

/* ---- mprotect, munmap, madvise: per page and per call ------------------------------------------------------------ */

/* n resident pages in a VMA of their own (PROT_NONE neighbours keep it from merging). */
static char *resident_vma(size_t n)
{
    char *g = map_anon(n + 2);
    if (mprotect(g, PAGE, PROT_NONE) != 0 || mprotect(g + (n + 1) * PAGE, PAGE, PROT_NONE) != 0) die("mprotect");
    write_pages(g + PAGE, n);
    return g + PAGE;
}

/* Each figure the median of TRIALS calls: mprotect of SPAN resident pages (their VMA whole) read-only and back, and
 * of one page; mprotect of one page in the middle of the SPAN-page VMA read-only (a split into three VMAs) and back
 * (a merge into one); madvise(DONTNEED) of SPAN resident pages, and their refaults; munmap of SPAN resident pages,
 * and of one. */
#define SPAN 64
#define TRIALS 64
static void bench_unmap_protect(void)
{
    double prot_big[MAX_REPEAT], prot_one[MAX_REPEAT], unmap_big[MAX_REPEAT], unmap_one[MAX_REPEAT];
    double dontneed[MAX_REPEAT], refault[MAX_REPEAT], split[MAX_REPEAT], merge[MAX_REPEAT];
    double t[6][TRIALS], re[TRIALS];
    for (int r = 0; r < repeat; r++)
    {
        for (int i = 0; i < TRIALS; i++)
        {
            char *a = resident_vma(SPAN), *b = resident_vma(1);
            uint64_t t0 = now_ns();
            if (mprotect(a, SPAN * PAGE, PROT_READ) != 0) die("mprotect");
            uint64_t t1 = now_ns();
            if (mprotect(b, PAGE, PROT_READ) != 0) die("mprotect");
            uint64_t t2 = now_ns();
            if (mprotect(a, SPAN * PAGE, PROT_READ | PROT_WRITE) != 0) die("mprotect");
            uint64_t s0 = now_ns();
            if (mprotect(a + SPAN / 2 * PAGE, PAGE, PROT_READ) != 0) die("mprotect");
            uint64_t s1 = now_ns();
            if (mprotect(a + SPAN / 2 * PAGE, PAGE, PROT_READ | PROT_WRITE) != 0) die("mprotect");
            uint64_t s2 = now_ns();
            t[4][i] = (double)(s1 - s0) - timer_cost;
            t[5][i] = (double)(s2 - s1) - timer_cost;
            if (madvise(a, SPAN * PAGE, MADV_DONTNEED) != 0) die("madvise(MADV_DONTNEED)");
            re[i] = per_page(a, SPAN, op_write);
            uint64_t t4 = now_ns();
            if (munmap(a, SPAN * PAGE) != 0) die("munmap");
            uint64_t t5 = now_ns();
            if (munmap(b, PAGE) != 0) die("munmap");
            uint64_t t6 = now_ns();
            t[0][i] = (double)(t1 - t0) - timer_cost;
            t[1][i] = (double)(t2 - t1) - timer_cost;
            t[2][i] = (double)(t5 - t4) - timer_cost;
            t[3][i] = (double)(t6 - t5) - timer_cost;
            munmap(a - PAGE, PAGE);
            munmap(a + SPAN * PAGE, PAGE);
            munmap(b - PAGE, PAGE);
            munmap(b + PAGE, PAGE);
        }
        prot_big[r] = median(t[0], TRIALS);
        prot_one[r] = median(t[1], TRIALS);
        unmap_big[r] = median(t[2], TRIALS);
        unmap_one[r] = median(t[3], TRIALS);
        refault[r] = median(re, TRIALS);
        split[r] = median(t[4], TRIALS);
        merge[r] = median(t[5], TRIALS);
        for (int i = 0; i < TRIALS; i++)
        {
            char *a = resident_vma(SPAN);
            uint64_t t0 = now_ns();
            if (madvise(a, SPAN * PAGE, MADV_DONTNEED) != 0) die("madvise(MADV_DONTNEED)");
            t[0][i] = (double)(now_ns() - t0) - timer_cost;
            munmap(a - PAGE, (SPAN + 2) * PAGE);
        }
        dontneed[r] = median(t[0], TRIALS);
    }
    figure("span_pages", SPAN);
    figure("mprotect_span_ns", median(prot_big, repeat));
    figure("mprotect_one_ns", median(prot_one, repeat));
    figure("mprotect_split_ns", median(split, repeat));
    figure("mprotect_merge_ns", median(merge, repeat));
    figure("dontneed_span_ns", median(dontneed, repeat));
    figure("dontneed_refault_ns", median(refault, repeat));
    figure("munmap_span_ns", median(unmap_big, repeat));
    figure("munmap_one_ns", median(unmap_one, repeat));
}

/* Per page, by the kind of flush: for each size of SIZES, a VMA of that many resident pages (PROT_NONE neighbours keep
 * it whole), made read-only, back to read-write, then unmapped, each call timed; every trial makes all sizes in turn,
 * so a change in the host's state during the run reaches them alike. Linux flushes a range of up to 33 pages one page
 * at a time (invlpg) and a longer one whole: 1 and 8 pages are of the first kind, 64 and 512 of the second, so a
 * difference within a kind is per-page work plus, for the first, one page's invalidation. */
#define SIZES 4
static const size_t sizes[SIZES] = { 1, 8, 64, 512 };
static void bench_flush_kinds(void)
{
    static double runs[3][SIZES][MAX_REPEAT];
    double t[3][SIZES][TRIALS];
    for (int r = 0; r < repeat; r++)
    {
        for (int i = 0; i < TRIALS; i++)
            for (int k = 0; k < SIZES; k++)
            {
                size_t n = sizes[k];
                char *a = resident_vma(n);
                uint64_t t0 = now_ns();
                if (mprotect(a, n * PAGE, PROT_READ) != 0) die("mprotect");
                uint64_t t1 = now_ns();
                if (mprotect(a, n * PAGE, PROT_READ | PROT_WRITE) != 0) die("mprotect");
                uint64_t t2 = now_ns();
                if (munmap(a, n * PAGE) != 0) die("munmap");
                uint64_t t3 = now_ns();
                t[0][k][i] = (double)(t1 - t0) - timer_cost;
                t[1][k][i] = (double)(t2 - t1) - timer_cost;
                t[2][k][i] = (double)(t3 - t2) - timer_cost;
                munmap(a - PAGE, PAGE);
                munmap(a + n * PAGE, PAGE);
            }
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < SIZES; k++) runs[j][k][r] = median(t[j][k], TRIALS);
    }
    static const char *what[3] = { "mprotect_ro", "mprotect_rw", "munmap" };
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < SIZES; k++)
        {
            char key[64];
            snprintf(key, sizeof key, "%s_%zu_ns", what[j], sizes[k]);
            figure(key, median(runs[j][k], repeat));
        }
}

/* ---- TLB shootdown ------------------------------------------------------------------------------------------ */

static volatile int spin_state; /* 0 starting, 1 spinning, 2 stop */

static void *spinner(void *arg)
{
    (void)arg;
    pin_to(other_cpu);
    spin_state = 1;
    while (spin_state != 2) __asm__ volatile("" ::: "memory");
    return NULL;
}

static double munmap_one_page_median(void)
{
    const int calls = 1000;
    static double t[1000];
    for (int i = 0; i < calls; i++)
    {
        char *c = map_anon(1);
        write_pages(c, 1);
        uint64_t t0 = now_ns();
        if (munmap(c, PAGE) != 0) die("munmap");
        t[i] = (double)(now_ns() - t0) - timer_cost;
    }
    return median(t, calls);
}

/* munmap of one resident page while a thread of the process runs on another CPU (one shootdown IPI), against the
 * same munmap before that thread exists (none). */
static void bench_shootdown(void)
{
    if (other_cpu < 0)
    {
        skip("shootdown", "needs a second CPU this process may run on");
        return;
    }
    double alone[MAX_REPEAT], shared[MAX_REPEAT];
    for (int r = 0; r < repeat; r++) alone[r] = munmap_one_page_median();
    pthread_t thread;
    spin_state = 0;
    if (pthread_create(&thread, NULL, spinner, NULL) != 0) die("pthread_create");
    while (spin_state != 1) sched_yield();
    for (int r = 0; r < repeat; r++) shared[r] = munmap_one_page_median();
    spin_state = 2;
    pthread_join(thread, NULL);
    figure("munmap_alone_ns", median(alone, repeat));
    figure("munmap_shootdown_ns", median(shared, repeat));
    figure("shootdown_targets", 1);
}

/* ---- pointer chases ----------------------------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Links one line in each of `count` slots of `stride` bytes (the line at a varying offset, so lines spread over the
 * cache's sets) into one random cycle, and chases it. ns per load, by the median chunk of 1000 loads. */
static double chase(char *base, size_t count, size_t stride, long loads)
{
    size_t *order = malloc(count * sizeof *order);
    if (!order) die("malloc");
    for (size_t i = 0; i < count; i++) order[i] = i;
    for (size_t i = count - 1; i > 0; i--)
    {
        size_t j = (size_t)(next_random() % (i + 1));
        size_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    size_t lines = stride / 64;
#define SLOT(k) ((void **)(base + order[k] * stride + ((order[k] * 17) % lines) * 64))
    for (size_t i = 0; i < count; i++) *SLOT(i) = (void *)SLOT((i + 1) % count);
    void **p = SLOT(0);
#undef SLOT
    free(order);
    for (long i = 0; i < loads / 8 + (long)count; i++) p = (void **)*p; /* warm: TLB and caches as the chase leaves them */
    int chunks = (int)(loads / 1000);
    double *t = malloc((size_t)chunks * sizeof *t);
    if (!t) die("malloc");
    for (int c = 0; c < chunks; c++)
    {
        uint64_t t0 = now_ns();
        for (int i = 0; i < 1000; i++) p = (void **)*p;
        t[c] = ((double)(now_ns() - t0) - timer_cost) / 1000;
    }
    __asm__ volatile("" : : "r"(p));
    double ns = median(t, chunks);
    free(t);
    return ns;
}

/* Bytes of the range backed by transparent huge pages, from /proc/self/smaps. */
static size_t huge_bytes(char *start)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return 0;
    char line[512];
    int inside = 0;
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
    {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = (uintptr_t)start >= lo && (uintptr_t)start < hi;
        else if (inside && strncmp(line, "AnonHugePages:", 14) == 0)
            kb += strtoul(line + 14, NULL, 10);
    }
    fclose(f);
    return kb * 1024;
}

/* A region of `bytes` (a multiple of 2 MiB) aligned to 2 MiB, with huge pages or without, every page written. */
static char *chase_region(size_t bytes, int huge, double *huge_fraction)
{
    char *raw = mmap(NULL, bytes + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) die("mmap");
    char *a = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
    if (madvise(a, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) die("madvise(MADV_HUGEPAGE)");
    memset(a, 0, bytes);
    if (huge_fraction) *huge_fraction = (double)huge_bytes(a) / (double)bytes;
    return a;
}

static void unmap_region(char *a, size_t bytes)
{
    /* The raw mapping's start is within 2 MiB below a; unmapping the aligned part and its surroundings is enough. */
    munmap(a - HUGE, bytes + 2 * HUGE);
}

static void bench_chases(void)
{
    double l1[MAX_REPEAT], l2tlb[MAX_REPEAT], walk4k[MAX_REPEAT], walk2m[MAX_REPEAT], dram4k[MAX_REPEAT], dram2m[MAX_REPEAT];
    const size_t walk_pages = 8192;            /* beyond any second-level TLB's 4 KiB reach; lines: 512 KiB */
    const size_t dram_bytes = 256UL << 20;     /* beyond any last-level cache */
    double fraction_walk = 0, fraction_dram = 0;
    prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
    for (int r = 0; r < repeat; r++)
    {
        char *a = chase_region(HUGE, 0, NULL);
        l1[r] = chase(a, 32, 64, chase_accesses);                      /* 2 KiB in one page: L1D and L1 TLB hits */
        l2tlb[r] = chase(a, 256, PAGE, chase_accesses);                /* 256 pages, 16 KiB of lines: L1 TLB misses */
        unmap_region(a, HUGE);

        a = chase_region(walk_pages * PAGE, 0, NULL);
        walk4k[r] = chase(a, walk_pages, PAGE, chase_accesses);
        unmap_region(a, walk_pages * PAGE);
        a = chase_region(walk_pages * PAGE, 1, &fraction_walk);
        walk2m[r] = chase(a, walk_pages, PAGE, chase_accesses);
        unmap_region(a, walk_pages * PAGE);

        size_t slots = dram_bytes / PAGE;
        a = chase_region(dram_bytes, 0, NULL);
        dram4k[r] = chase(a, slots, PAGE, chase_accesses);
        unmap_region(a, dram_bytes);
        a = chase_region(dram_bytes, 1, &fraction_dram);
        dram2m[r] = chase(a, slots, PAGE, chase_accesses);
        unmap_region(a, dram_bytes);
    }
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    figure("chase_l1_ns", median(l1, repeat));
    figure("chase_l2tlb_ns", median(l2tlb, repeat));
    figure("chase_walk_4k_ns", median(walk4k, repeat));
    figure("chase_walk_2m_ns", median(walk2m, repeat));
    figure("chase_walk_huge_fraction", fraction_walk);
    figure("chase_dram_4k_ns", median(dram4k, repeat));
    figure("chase_dram_2m_ns", median(dram2m, repeat));
    figure("chase_dram_huge_fraction", fraction_dram);
}

/* ---- stack growth ------------------------------------------------------------------------------------------- */

static uintptr_t stack_start(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) die("fopen(/proc/self/maps)");
    char line[512];
    uintptr_t lo = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "[stack]")) lo = (uintptr_t)strtoull(line, NULL, 16);
    fclose(f);
    return lo;
}

/* In a child: writes the pages below the stack VMA's start, one by one downwards (each a fault that grows the VMA
 * and then a demand-zero); ns per page back through a pipe. */
static void bench_stack(void)
{
    double runs[MAX_REPEAT];
    struct rlimit lim;
    if (getrlimit(RLIMIT_STACK, &lim) != 0) die("getrlimit");
    size_t n = pages < 1024 ? pages / CHUNK * CHUNK : 1024;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < (n + 64) * PAGE + (1UL << 20))
    {
        skip("stack", "RLIMIT_STACK is too small");
        return;
    }
    for (int r = 0; r < repeat; r++)
    {
        int fd[2];
        if (pipe(fd) != 0) die("pipe");
        pid_t child = fork();
        if (child < 0) die("fork");
        if (child == 0)
        {
            volatile char pad[64 * 1024];
            for (size_t i = 0; i < sizeof pad; i += 512) pad[i] = 0; /* the frames below stay COW-free */
            char *start = (char *)stack_start();
            if (start == NULL) _exit(3);
            static double t[1024 / CHUNK];
            for (size_t c = 0; c < n / CHUNK; c++)
            {
                uint64_t t0 = now_ns();
                op_write_down(start - c * CHUNK * PAGE, CHUNK);
                t[c] = ((double)(now_ns() - t0) - timer_cost) / CHUNK;
            }
            double ns = median(t, (int)(n / CHUNK));
            if (write(fd[1], &ns, sizeof ns) != sizeof ns) _exit(3);
            _exit(0);
        }
        double ns;
        if (read(fd[0], &ns, sizeof ns) != sizeof ns) { errno = EIO; die("stack benchmark child"); }
        if (waitpid(child, NULL, 0) != child) die("waitpid");
        close(fd[0]);
        close(fd[1]);
        runs[r] = ns;
    }
    figure("stack_touch_ns", median(runs, repeat));
}

/* ---- file pages ---------------------------------------------------------------------------------------------- */

/* A file of 4 x PAGES pages in the page cache, mapped read-only: a read every 16th page (each fault maps its page
 * and fault-around's cached neighbours), per fault; then MADV_PAGEOUT of the whole mapping (reclaim of clean file
 * pages), per page dropped. */
static void bench_file(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/vmlab-calibrate-%d.tmp", scratch, (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
    {
        skip("file", "cannot create a file in the scratch directory");
        return;
    }
    unlink(path);
    size_t n = pages * 4;
    static char buf[1 << 16];
    memset(buf, 0x5a, sizeof buf);
    for (size_t done = 0; done < n * PAGE; done += sizeof buf)
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) die("write(scratch file)");
    if (fsync(fd) != 0) die("fsync(scratch file)"); /* clean pages: reclaim drops them without writing */
    double fault[MAX_REPEAT], pageout[MAX_REPEAT];
    double per_fault_pages = 0, dropped_fraction = 0;
    unsigned char *vec = malloc(n);
    double *touch = malloc(n / 16 * sizeof *touch);
    if (!vec || !touch) die("malloc");
    for (int r = 0; r < repeat; r++)
    {
        /* Into the page cache (again, after the last round's pageout). */
        for (size_t off = 0; off < n * PAGE; off += sizeof buf)
            if (pread(fd, buf, sizeof buf, (off_t)off) != (ssize_t)sizeof buf) die("pread(scratch file)");
        char *a = mmap(NULL, n * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
        if (a == MAP_FAILED) die("mmap(scratch file)");
        long f0 = minflt();
        for (size_t i = 0; i < n / 16; i++)
        {
            uint64_t t0 = now_ns();
            (void)((volatile char *)a)[i * 16 * PAGE];
            touch[i] = (double)(now_ns() - t0) - timer_cost;
        }
        long faults = minflt() - f0;
        fault[r] = median(touch, (int)(n / 16));
        per_fault_pages = (double)faults / (double)(n / 16);
        uint64_t t0;
        for (size_t i = 0; i < n; i++) (void)((volatile char *)a)[i * PAGE];
        t0 = now_ns();
        int rc = madvise(a, n * PAGE, MADV_PAGEOUT);
        double elapsed = (double)(now_ns() - t0);
        size_t dropped = 0;
        if (rc == 0 && mincore(a, n * PAGE, vec) == 0)
            for (size_t i = 0; i < n; i++) dropped += !(vec[i] & 1);
        dropped_fraction = (double)dropped / (double)n;
        pageout[r] = dropped ? elapsed / (double)dropped : -1;
        munmap(a, n * PAGE);
    }
    free(vec);
    free(touch);
    close(fd);
    figure("file_fault_ns", median(fault, repeat));
    figure("file_faults_per_touch", per_fault_pages); /* 1: each touch took one fault */
    if (dropped_fraction > 0.5) figure("pageout_ns", median(pageout, repeat));
    else skip("pageout", "MADV_PAGEOUT dropped too few clean file pages");
    figure("pageout_dropped_fraction", dropped_fraction);
}

int main(int argc, char **argv)
{
    if (argc != 5)
    {
        fprintf(stderr, "error usage: calibrate REPEAT PAGES CHASE_ACCESSES SCRATCH_DIR\n");
        return 2;
    }
    repeat = atoi(argv[1]);
    pages = (size_t)atol(argv[2]);
    chase_accesses = atol(argv[3]);
    scratch = argv[4];
    if (repeat < 1 || repeat > MAX_REPEAT || pages < 64 || chase_accesses < 1000)
    {
        fprintf(stderr, "error arguments: REPEAT 1..%d, PAGES >= 64, CHASE_ACCESSES >= 1000\n", MAX_REPEAT);
        return 2;
    }
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) die("sched_getaffinity");
    home_cpu = sched_getcpu();
    if (home_cpu < 0) die("sched_getcpu");
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (c != home_cpu && CPU_ISSET(c, &allowed)) { other_cpu = c; break; }
    pin_to(home_cpu);
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) die("prctl(PR_SET_THP_DISABLE)");
    long page_size = sysconf(_SC_PAGESIZE);
    if (page_size != (long)PAGE) { errno = EINVAL; die("page size is not 4096"); }

    timer_cost = timer_overhead();
    figure("timer_ns", timer_cost);
    figure("clock_ghz", clock_ghz());
    bench_syscall();
    bench_first_touch();
    bench_fork();
    bench_signal();
    bench_raise();
    bench_unmap_protect();
    bench_flush_kinds();
    bench_shootdown();
    bench_stack();
    bench_file();
    bench_chases();
    return 0;
}
