/* Counts heap allocations of the process it is preloaded into (LD_PRELOAD), for bench/alloc/count.sh: malloc,
 * calloc, realloc, posix_memalign, aligned_alloc, memalign and valloc calls, and the bytes they asked for, go to
 * glibc's own allocator; a thread writes the totals to $MALLOC_COUNT_FILE (one line: "allocations bytes frees")
 * every 100 ms, so a script reads the counts before and after a load without stopping the process. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_ulong allocations, bytes, frees;

static inline void count(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes, size, memory_order_relaxed);
}

void *malloc(size_t size) { count(size); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(n * size); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(size); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
void *valloc(size_t size) { count(size); return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count(size);
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
void free(void *p) {
    if (p != NULL) atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
    __libc_free(p);
}

static void *reporter(void *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", (const char *)path);
    const struct timespec pause = {0, 100 * 1000 * 1000};
    for (;;) {
        FILE *f = fopen(tmp, "w");
        if (f != NULL) {
            fprintf(f, "%lu %lu %lu\n", atomic_load(&allocations), atomic_load(&bytes), atomic_load(&frees));
            fclose(f);
            rename(tmp, (const char *)path);
        }
        nanosleep(&pause, NULL);
    }
    return NULL;
}

__attribute__((constructor)) static void start(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (path == NULL || *path == 0) return;
    static char copy[4000];
    strncpy(copy, path, sizeof copy - 1);
    pthread_t thread;
    if (pthread_create(&thread, NULL, reporter, copy) == 0) pthread_detach(thread);
}
