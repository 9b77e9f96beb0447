/*
 * A disk that fills up on demand, for the fault-injection tests of Linli's store
 * (tests/tests/store_faults.rs, web/e2e/store-fails.test.mjs).
 *
 * Loaded into the server with LD_PRELOAD. While the file named by LINLI_FAULT_FILE
 * exists, every write and sync of a file whose path contains LINLI_FAULT_MARK
 * (default "/store/": the sled store's files) fails with ENOSPC, as on a full disk;
 * everything else (sockets, logs) is untouched. Remove the file and the disk "has
 * space" again.
 *
 * Built by the tests themselves: gcc -shared -fPIC -O2 -o libenospc.so enospc.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int faulty(int fd) {
    const char *control = getenv("LINLI_FAULT_FILE");
    if (control == NULL || access(control, F_OK) != 0) {
        return 0;
    }
    char link[64];
    char path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) {
        return 0;
    }
    path[n] = '\0';
    const char *mark = getenv("LINLI_FAULT_MARK");
    return strstr(path, mark != NULL ? mark : "/store/") != NULL;
}

#define REAL(name) static __typeof__(name) *real = NULL; if (real == NULL) real = (__typeof__(name) *) dlsym(RTLD_NEXT, #name)
#define FAIL_IF_FAULTY(fd) do { if (faulty(fd)) { errno = ENOSPC; return -1; } } while (0)

ssize_t write(int fd, const void *buf, size_t count) { REAL(write); FAIL_IF_FAULTY(fd); return real(fd, buf, count); }
ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) { REAL(pwrite); FAIL_IF_FAULTY(fd); return real(fd, buf, count, offset); }
ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) { REAL(pwrite64); FAIL_IF_FAULTY(fd); return real(fd, buf, count, offset); }
ssize_t writev(int fd, const struct iovec *iov, int iovcnt) { REAL(writev); FAIL_IF_FAULTY(fd); return real(fd, iov, iovcnt); }
ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) { REAL(pwritev); FAIL_IF_FAULTY(fd); return real(fd, iov, iovcnt, offset); }
ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t offset) { REAL(pwritev64); FAIL_IF_FAULTY(fd); return real(fd, iov, iovcnt, offset); }
int fsync(int fd) { REAL(fsync); FAIL_IF_FAULTY(fd); return real(fd); }
int fdatasync(int fd) { REAL(fdatasync); FAIL_IF_FAULTY(fd); return real(fd); }
int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) { REAL(sync_file_range); FAIL_IF_FAULTY(fd); return real(fd, offset, nbytes, flags); }
int fallocate(int fd, int mode, off_t offset, off_t len) { REAL(fallocate); FAIL_IF_FAULTY(fd); return real(fd, mode, offset, len); }
int fallocate64(int fd, int mode, off64_t offset, off64_t len) { REAL(fallocate64); FAIL_IF_FAULTY(fd); return real(fd, mode, offset, len); }
int ftruncate(int fd, off_t length) { REAL(ftruncate); FAIL_IF_FAULTY(fd); return real(fd, length); }
int ftruncate64(int fd, off64_t length) { REAL(ftruncate64); FAIL_IF_FAULTY(fd); return real(fd, length); }
