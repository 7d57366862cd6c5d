/*
 * aios-spawn [-c CGROUP_DIR] [-g GID] [-u UID [-n USER]] -- PROGRAM [ARG...]
 *
 * Joins the cgroup, drops to the user, then execs PROGRAM. Node cannot run code between
 * fork and exec, and moving a service into its cgroup after spawn() returns would race with
 * a service that forks at once: this program closes that window, at the cost of one extra
 * exec. The cgroup is joined while still root; only then are the ids changed.
 *
 * Exit statuses follow the shell and systemd: 127 when PROGRAM is not found, 126 when it
 * cannot be executed, 125 for bad usage or a cgroup that cannot be joined, 216/217 when the
 * group/user cannot be set (nothing was started in those cases).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_id(const char *text, long *out) {
  char *end;
  errno = 0;
  *out = strtol(text, &end, 10);
  return errno == 0 && *text != '\0' && *end == '\0' && *out >= 0;
}

int main(int argc, char **argv) {
  const char *cgroup = NULL, *user = NULL;
  long uid = -1, gid = -1;
  int opt;
  while ((opt = getopt(argc, argv, "+c:u:g:n:")) != -1) {
    switch (opt) {
      case 'c': cgroup = optarg; break;
      case 'n': user = optarg; break;
      case 'u':
        if (!parse_id(optarg, &uid)) { fprintf(stderr, "aios-spawn: bad uid %s\n", optarg); return 125; }
        break;
      case 'g':
        if (!parse_id(optarg, &gid)) { fprintf(stderr, "aios-spawn: bad gid %s\n", optarg); return 125; }
        break;
      default:
        fprintf(stderr, "usage: aios-spawn [-c CGROUP_DIR] [-g GID] [-u UID [-n USER]] -- PROGRAM [ARG...]\n");
        return 125;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "aios-spawn: no program given\n");
    return 125;
  }
  if (cgroup != NULL) {
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
  if (gid >= 0 || uid >= 0) {
    gid_t primary = gid >= 0 ? (gid_t)gid : getgid();
    /* Supplementary groups: the user's own, or none (never root's). */
    int groups_ok = user != NULL ? initgroups(user, primary) : setgroups(0, NULL);
    if (groups_ok != 0 || setgid(primary) != 0) {
      fprintf(stderr, "aios-spawn: cannot set group %ld: %s\n", (long)primary, strerror(errno));
      return 216;
    }
  }
  if (uid >= 0 && setuid((uid_t)uid) != 0) {
    fprintf(stderr, "aios-spawn: cannot set user %ld: %s\n", uid, strerror(errno));
    return 217;
  }
  execv(argv[optind], argv + optind);
  int err = errno;
  fprintf(stderr, "aios-spawn: cannot execute %s: %s\n", argv[optind], strerror(err));
  return err == ENOENT || err == ENOTDIR ? 127 : 126;
}
