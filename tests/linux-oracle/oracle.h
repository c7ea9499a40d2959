/* Shared helpers of the Linux probes (every .c file in tests/linux-oracle).
 *
 * Each probe measures one behaviour a paired scenario in configs/scenarios/ claims (same base name) and prints its
 * figures on stdout as "key value" lines; LinuxOracleTests compares every one with the figure VmLab reports for the
 * expectation tagged "# linux: key" in the scenario. Every probe runs pinned to one CPU, with transparent huge pages
 * off for its mappings (MADV_NOHUGEPAGE), and counts faults with getrusage() around the measured part only.
 * A probe that cannot set itself up prints "error ..." on stderr and exits 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
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
#include <unistd.h>

#define PAGE 4096UL

static inline void die(const char *what)
{
    fprintf(stderr, "error %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Pins the process to the CPU it is on now and turns transparent huge pages off for all of it (a mapping made with
 * MAP_POPULATE is faulted in before madvise could reach it); a child inherits both, so fork cases stay on one CPU. */
static inline void pin(void)
{
    cpu_set_t set;
    int cpu = sched_getcpu();
    if (cpu < 0) die("sched_getcpu");
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) die("prctl(PR_SET_THP_DISABLE)");
}

/* An anonymous private mapping with THP off, nothing touched. */
static inline char *map_anon(size_t pages, int prot)
{
    char *p = mmap(NULL, pages * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    if (madvise(p, pages * PAGE, MADV_NOHUGEPAGE) != 0) die("madvise(MADV_NOHUGEPAGE)");
    return p;
}

struct faults { long minflt, majflt; };

static inline struct faults faults_now(int who)
{
    struct rusage ru;
    if (getrusage(who, &ru) != 0) die("getrusage");
    return (struct faults){ ru.ru_minflt, ru.ru_majflt };
}

/* After a fork, the stack pages are shared copy-on-write with the other process: the first write to each below the
 * current frame faults. Writing 64 KiB of stack here makes them this process's own before a measured part, so the
 * calls it makes (getrusage's frame among them) take no fault wherever the stack happens to start. */
static void __attribute__((noinline, unused)) warm_stack(void)
{
    volatile char pad[64 * 1024];
    for (size_t i = 0; i < sizeof pad; i += 512) pad[i] = 0;
}

/* Faults of this process since `before`. */
static inline struct faults faults_since(struct faults before)
{
    struct faults now = faults_now(RUSAGE_SELF);
    return (struct faults){ now.minflt - before.minflt, now.majflt - before.majflt };
}

/* /proc/PID/pagemap's bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN ((1ULL << 55) - 1)

/* The pagemap entry of the page at `addr` in process `pid` (0: this process). The file is opened on every call: a
 * descriptor opened before a fork would read the parent's pagemap in the child. Root sees frame numbers; reading
 * another process's pagemap needs root (or ptrace rights) too. */
static inline uint64_t pagemap_of(pid_t pid, const void *addr)
{
    char path[64];
    uint64_t e;
    if (pid == 0) snprintf(path, sizeof path, "/proc/self/pagemap");
    else snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("open pagemap");
    if (pread(fd, &e, sizeof e, (off_t)((uintptr_t)addr / PAGE * sizeof e)) != (ssize_t)sizeof e) die("pread pagemap");
    close(fd);
    if ((e & PM_PRESENT) && (e & PM_PFN) == 0) {
        errno = EPERM;
        die("/proc/self/pagemap hides frame numbers: the probes need CAP_SYS_ADMIN (run the tests as root)");
    }
    return e;
}

/* The page frame number of the page at `addr` from /proc/self/pagemap (0 when not present; root sees PFNs). */
static inline uint64_t pfn_of(const void *addr)
{
    uint64_t e = pagemap_of(0, addr);
    return (e & PM_PRESENT) ? e & PM_PFN : 0;
}

/* How many pages of [addr, addr + pages * PAGE) pagemap shows with every bit of `bits` set. */
static inline long pages_with(pid_t pid, const void *addr, size_t pages, uint64_t bits)
{
    long n = 0;
    for (size_t i = 0; i < pages; i++) n += (pagemap_of(pid, (const char *)addr + i * PAGE) & bits) == bits;
    return n;
}

/* The frame of the shared zero page: what a read of a fresh anonymous page maps. */
static inline uint64_t zero_pfn(void)
{
    volatile char *z = map_anon(1, PROT_READ);
    (void)z[0];
    return pfn_of((const void *)z);
}

/* A SA_SIGINFO handler that records the signal and jumps back out of the faulting instruction. */
static sigjmp_buf caught_at;
static volatile sig_atomic_t caught_signo;
static volatile int caught_code;
static void *volatile caught_addr;

static inline void on_signal(int signo, siginfo_t *si, void *ctx)
{
    (void)ctx;
    caught_signo = signo;
    caught_code = si->si_code;
    caught_addr = si->si_addr;
    siglongjmp(caught_at, 1);
}

static inline void catch_signal(int signo)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, NULL) != 0) die("sigaction");
}

/* Prints KEY.signo, KEY.code and KEY.addr_in_page of the caught signal (KEY.signo 0: none was caught). */
static inline void print_signal(const char *key)
{
    printf("%s.signo %d\n", key, (int)caught_signo);
    if (caught_signo == 0) return;
    printf("%s.code %d\n", key, caught_code);
    printf("%s.addr_in_page %lu\n", key, (unsigned long)((uintptr_t)caught_addr % PAGE));
}

/* Runs fn in a child with the default dispositions and prints KEY.signo: the signal that killed it (0: it exited). */
static inline void print_death(const char *key, void (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        fn();
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    printf("%s.signo %d\n", key, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* An address nothing is mapped at, hidden from the compiler's buffer-size checks. */
static const void *volatile unmapped_0x10 = (const void *)0x10;

/* A system call's return as the kernel gives it: the count, or -errno. */
static inline long ret_of(long r) { return r < 0 ? -errno : r; }

/* A file of `pages` pages of `fill` in the scratch folder (argv[1]), written, synced and dropped from the page cache,
 * so its pages are read from the disk by the faults that first touch them; opened read-write. */
static inline int scratch_file(int argc, char **argv, const char *name, size_t pages, int fill)
{
    if (argc < 2) { fprintf(stderr, "error usage: %s SCRATCH-DIR\n", argv[0]); exit(2); }
    char path[4096], data[PAGE];
    snprintf(path, sizeof path, "%s/%s.data", argv[1], name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("open scratch file");
    unlink(path);
    memset(data, fill, sizeof data);
    for (size_t i = 0; i < pages; i++)
        if (write(fd, data, sizeof data) != (ssize_t)sizeof data) die("write");
    if (fsync(fd) != 0) die("fsync");
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) die("posix_fadvise");
    return fd;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
