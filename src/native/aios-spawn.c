/*
 * aios-spawn CGROUP_DIR PROGRAM [ARG...]
 *
 * Joins the cgroup, then execs PROGRAM. Node cannot run code between fork and exec, and
 * moving a service into its cgroup after spawn() returns would race with a service that
 * forks at once: this program closes that window, at the cost of one extra exec.
 * CGROUP_DIR "-" means no cgroup (the fallback to process groups).
 *
 * Exit statuses follow the shell: 127 when PROGRAM is not found, 126 when it cannot be
 * executed, 125 when the cgroup cannot be joined (nothing was started).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: aios-spawn CGROUP_DIR|- PROGRAM [ARG...]\n");
    return 125;
  }
  const char *cgroup = argv[1];
  if (strcmp(cgroup, "-") != 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", cgroup);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    /* Writing "0" moves the writing process itself. */
    if (fd < 0 || write(fd, "0\n", 2) != 2) {
      fprintf(stderr, "aios-spawn: cannot join cgroup %s: %s\n", cgroup, strerror(errno));
      return 125;
    }
    close(fd);
  }
  execv(argv[2], argv + 2);
  int err = errno;
  fprintf(stderr, "aios-spawn: cannot execute %s: %s\n", argv[2], strerror(err));
  return err == ENOENT || err == ENOTDIR ? 127 : 126;
}
