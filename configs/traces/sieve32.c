/* A freestanding 32-bit x86 program (no libc): a prime sieve over a heap array grown with brk,
   a 64x64 matrix transpose, one write to every page of a 4 MiB heap extension, and a checksum, then exit(checksum & 0xff). It runs on its own stack in .bss,
   so every access stays below 3 GiB as under a 32-bit kernel (a 64-bit kernel puts a 32-bit stack near 4 GiB). */
static long sys1(long n, long a) { long r; __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a) : "memory"); return r; }
#define SYS_exit 1
#define SYS_brk 45
static unsigned int matrix[64][64];
static unsigned int transposed[64][64];

static unsigned int sieve(unsigned char *flags, unsigned int n) {
    unsigned int count = 0;
    for (unsigned int i = 0; i < n; i++) flags[i] = 1;
    for (unsigned int i = 2; i < n; i++) {
        if (!flags[i]) continue;
        count++;
        for (unsigned int j = i + i; j < n; j += i) flags[j] = 0;
    }
    return count;
}

unsigned char stack[64 * 1024] __attribute__((aligned(16), used));
__asm__(".globl _start\n_start:\n\tmovl $stack+65536, %esp\n\tcall run\n");

__attribute__((used, noreturn)) void run(void) {
    unsigned int n = 40000;
    char *base = (char *)sys1(SYS_brk, 0);
    sys1(SYS_brk, (long)(base + n));
    unsigned int primes = sieve((unsigned char *)base, n);
    for (int i = 0; i < 64; i++) for (int j = 0; j < 64; j++) matrix[i][j] = (unsigned int)(i * 64 + j) * primes;
    for (int i = 0; i < 64; i++) for (int j = 0; j < 64; j++) transposed[j][i] = matrix[i][j];
    char *big = base + n;
    unsigned int span = 4u << 20;
    sys1(SYS_brk, (long)(big + span));
    for (unsigned int off = 0; off < span; off += 4096) big[off] = (char)off;
    unsigned int sum = 0;
    for (unsigned int off = 0; off < span; off += 16 * 4096) sum += (unsigned char)big[off + 0];
    for (int i = 0; i < 64; i++) sum += transposed[i][(i * 7) & 63];
    sys1(SYS_exit, (long)(sum & 0xff));
    for (;;) {}
}
