/* The program bench/run-trace-benchmark.sh records under valgrind lackey: repeated passes over a 4 MiB array
   (a read pass summing it, a write pass scaling it, a strided read pass), so the access stream is dominated by
   instruction fetches and loads that hit in a 64-entry TLB, with one first touch per page of the array.
   Usage: arraypass [passes] (default 6). */
#include <stdio.h>
#include <stdlib.h>

#define N (1u << 20) /* ints: 4 MiB, 1024 pages */

static unsigned int data[N];

int main(int argc, char **argv) {
    int passes = argc > 1 ? atoi(argv[1]) : 6;
    unsigned long sum = 0;
    for (unsigned int i = 0; i < N; i++) data[i] = i;
    for (int p = 0; p < passes; p++) {
        for (unsigned int i = 0; i < N; i++) sum += data[i];
        for (unsigned int i = 0; i < N; i++) data[i] = data[i] * 3u + (unsigned int)p;
        for (unsigned int i = 0; i < N; i += 16) sum ^= data[i];
    }
    printf("%lu\n", sum);
    return 0;
}
