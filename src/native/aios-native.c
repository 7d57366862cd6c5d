/*
 * aios-native: the system calls an init needs and Node does not offer.
 *
 * Invariants:
 * - Every function is a thin, synchronous wrapper: no threads, no state beyond the
 *   signal watchers, so a bug here cannot corrupt Node's own bookkeeping.
 * - Failures throw a Node-style Error whose `code` is the errno name (EBUSY, EPERM, ...),
 *   with `errno` and `syscall` set, so TypeScript handles them like fs errors.
 * - peekChild never reaps (WNOWAIT): children that libuv spawned stay for libuv to wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error((env), "EINTERNAL", "aios-native: N-API call failed: " #call); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

/* A Node-style Error for errno: code = the errno name, with errno and syscall set. */
static napi_value errno_error(napi_env env, int err, const char *syscall, const char *subject) {
  const char *name = strerrorname_np(err);
  char message[1024];
  if (subject != NULL) {
    snprintf(message, sizeof message, "%s: %s, %s '%s'", name ? name : "EUNKNOWN", strerror(err), syscall, subject);
  } else {
    snprintf(message, sizeof message, "%s: %s, %s", name ? name : "EUNKNOWN", strerror(err), syscall);
  }
  napi_value code, msg, error, errno_value, syscall_value;
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *subject) {
  napi_throw(env, errno_error(env, err, syscall, subject));
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "aios-native: not enough arguments");
    return 0;
  }
  return 1;
}

static int get_int(napi_env env, napi_value value, const char *what, int32_t *out) {
  if (napi_get_value_int32(env, value, out) != napi_ok) {
    char message[128];
    snprintf(message, sizeof message, "aios-native: expected `%s` to be an integer", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return 0;
  }
  return 1;
}

/* Returns a malloc'd string, or NULL (with a pending exception); null/undefined give "" when allow_null. */
static char *get_string(napi_env env, napi_value value, const char *what, int allow_null) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (allow_null && (type == napi_null || type == napi_undefined)) return calloc(1, 1);
  size_t length = 0;
  if (type != napi_string || napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    char message[128];
    snprintf(message, sizeof message, "aios-native: expected `%s` to be a string", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return NULL;
  }
  char *buffer = malloc(length + 1);
  napi_get_value_string_utf8(env, value, buffer, length + 1, &length);
  return buffer;
}

static napi_value make_int(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

static napi_value make_null(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

/* { pid, uid, code, signal, coreDumped }: code is the exit status or null, signal the number or null. */
static napi_value child_status(napi_env env, const siginfo_t *info) {
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "pid", make_int(env, info->si_pid));
  napi_set_named_property(env, result, "uid", make_int(env, info->si_uid));
  int exited = info->si_code == CLD_EXITED;
  napi_set_named_property(env, result, "code", exited ? make_int(env, info->si_status) : make_null(env));
  napi_set_named_property(env, result, "signal", exited ? make_null(env) : make_int(env, info->si_status));
  napi_value dumped;
  napi_get_boolean(env, info->si_code == CLD_DUMPED, &dumped);
  napi_set_named_property(env, result, "coreDumped", dumped);
  return result;
}

/* peekChild(): the status of some exited child, left in place (WNOWAIT), or null. */
static napi_value peek_child(napi_env env, napi_callback_info info) {
  (void)info;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == ECHILD) return make_null(env);
    return throw_errno(env, errno, "waitid", NULL);
  }
  if (si.si_pid == 0) return make_null(env);
  return child_status(env, &si);
}

/* reapChild(pid): reap that child if it has exited; its status or null. */
static napi_value reap_child(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t pid;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "pid", &pid)) return NULL;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) != 0) {
    if (errno == ECHILD) return make_null(env);
    return throw_errno(env, errno, "waitid", NULL);
  }
  if (si.si_pid == 0) return make_null(env);
  return child_status(env, &si);
}

static napi_value set_child_subreaper(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool on;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "aios-native: expected `on` to be a boolean");
    return NULL;
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) != 0) return throw_errno(env, errno, "prctl", "PR_SET_CHILD_SUBREAPER");
  return NULL;
}

static napi_value do_reboot(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t cmd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "cmd", &cmd)) return NULL;
  if (reboot(cmd) != 0) return throw_errno(env, errno, "reboot", NULL);
  return NULL;
}

/* mount(source, target, fstype, flags, data) */
static napi_value do_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t flags;
  if (!get_args(env, info, 5, argv) || !get_int(env, argv[3], "flags", &flags)) return NULL;
  char *source = get_string(env, argv[0], "source", 1);
  char *target = source ? get_string(env, argv[1], "target", 0) : NULL;
  char *fstype = target ? get_string(env, argv[2], "fstype", 1) : NULL;
  char *data = fstype ? get_string(env, argv[4], "data", 1) : NULL;
  napi_value result = NULL;
  if (data != NULL) {
    if (mount(source, target, fstype[0] ? fstype : NULL, (unsigned long)(uint32_t)flags, data[0] ? data : NULL) != 0) {
      result = throw_errno(env, errno, "mount", target);
    }
  }
  free(source);
  free(target);
  free(fstype);
  free(data);
  return result;
}

static napi_value do_umount2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t flags;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[1], "flags", &flags)) return NULL;
  char *target = get_string(env, argv[0], "target", 0);
  if (target == NULL) return NULL;
  napi_value result = NULL;
  if (umount2(target, flags) != 0) result = throw_errno(env, errno, "umount2", target);
  free(target);
  return result;
}

static napi_value do_chroot(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  char *dir = get_string(env, argv[0], "dir", 0);
  if (dir == NULL) return NULL;
  napi_value result = NULL;
  if (chroot(dir) != 0) result = throw_errno(env, errno, "chroot", dir);
  else if (chdir("/") != 0) result = throw_errno(env, errno, "chdir", "/");
  free(dir);
  return result;
}

static napi_value do_sync(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  sync();
  return NULL;
}

static napi_value do_setsid(napi_env env, napi_callback_info info) {
  (void)info;
  pid_t sid = setsid();
  if (sid < 0) return throw_errno(env, errno, "setsid", NULL);
  return make_int(env, sid);
}

/* setControllingTty(fd, steal): make the tty on fd our controlling terminal. */
static napi_value set_controlling_tty(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  bool steal;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  if (napi_get_value_bool(env, argv[1], &steal) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "aios-native: expected `steal` to be a boolean");
    return NULL;
  }
  if (ioctl(fd, TIOCSCTTY, steal ? 1 : 0) != 0) return throw_errno(env, errno, "ioctl", "TIOCSCTTY");
  return NULL;
}

/* peerCredentials(fd): { pid, uid, gid } of the process at the other end of a unix socket. */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  struct ucred cred;
  socklen_t length = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return throw_errno(env, errno, "getsockopt", "SO_PEERCRED");
  napi_value result;
  CHECK(env, napi_create_object(env, &result));
  napi_set_named_property(env, result, "pid", make_int(env, cred.pid));
  napi_set_named_property(env, result, "uid", make_int(env, cred.uid));
  napi_set_named_property(env, result, "gid", make_int(env, cred.gid));
  return result;
}

/*
 * watchSignal(signum, callback): run callback(signum) on the event loop whenever the signal
 * arrives. Node's process.on() knows no real-time signals (systemd's SIGRTMIN+n), and
 * --disable-sigusr1 blocks SIGUSR1 in every thread, so the signal is unblocked in this (the
 * main) thread: the kernel then delivers it here and nowhere else.
 */
typedef struct {
  uv_signal_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
} signal_watch;

static void on_signal(uv_signal_t *handle, int signum) {
  signal_watch *watch = handle->data;
  napi_env env = watch->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argument, result;
  napi_get_reference_value(env, watch->callback, &callback);
  napi_get_global(env, &receiver);
  napi_create_int32(env, signum, &argument);
  if (napi_make_callback(env, watch->context, receiver, callback, 1, &argument, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error); /* reaches process.on('uncaughtException') */
  }
  napi_close_handle_scope(env, scope);
}

static napi_value watch_signal(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t signum;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "signum", &signum)) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[1], &type);
  if (type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "aios-native: expected `callback` to be a function");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  signal_watch *watch = calloc(1, sizeof *watch);
  watch->env = env;
  napi_value name;
  napi_create_string_utf8(env, "aios:signal", NAPI_AUTO_LENGTH, &name);
  CHECK(env, napi_async_init(env, NULL, name, &watch->context));
  CHECK(env, napi_create_reference(env, argv[1], 1, &watch->callback));
  uv_signal_init(loop, &watch->handle);
  watch->handle.data = watch;
  int rc = uv_signal_start(&watch->handle, on_signal, signum);
  if (rc != 0) return throw_errno(env, -rc, "uv_signal_start", NULL);
  uv_unref((uv_handle_t *)&watch->handle);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signum);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  return NULL;
}

/* loadModule(fd, params): finit_module(2); EEXIST (already loaded) counts as success. */
static napi_value load_module(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  char *params = get_string(env, argv[1], "params", 1);
  if (params == NULL) return NULL;
  long rc = syscall(SYS_finit_module, fd, params, 0);
  int err = errno;
  free(params);
  if (rc != 0 && err != EEXIST) return throw_errno(env, err, "finit_module", NULL);
  return NULL;
}

/*
 * loadModuleAsync(fd, params): the same on a libuv worker thread, as a Promise. Probing
 * devices takes a good part of a second under emulation; the event loop (and the console
 * waiting on it) should not wait for that.
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  char *params;
  int err;
} module_job;

static void module_job_execute(napi_env env, void *data) {
  (void)env;
  module_job *job = data;
  long rc = syscall(SYS_finit_module, job->fd, job->params, 0);
  job->err = (rc != 0 && errno != EEXIST) ? errno : 0;
}

static void module_job_complete(napi_env env, napi_status status, void *data) {
  (void)status;
  module_job *job = data;
  if (job->err == 0) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, job->deferred, undefined);
  } else {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err, "finit_module", NULL));
  }
  napi_delete_async_work(env, job->work);
  free(job->params);
  free(job);
}

static napi_value load_module_async(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  char *params = get_string(env, argv[1], "params", 1);
  if (params == NULL) return NULL;
  module_job *job = calloc(1, sizeof *job);
  job->fd = fd;
  job->params = params;
  napi_value promise, name;
  CHECK(env, napi_create_promise(env, &job->deferred, &promise));
  napi_create_string_utf8(env, "aios:finit_module", NAPI_AUTO_LENGTH, &name);
  CHECK(env, napi_create_async_work(env, NULL, name, module_job_execute, module_job_complete, job, &job->work));
  CHECK(env, napi_queue_async_work(env, job->work));
  return promise;
}

static napi_value sigrtmin(napi_env env, napi_callback_info info) {
  (void)info;
  return make_int(env, SIGRTMIN);
}

static void export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}

static void export_int(napi_env env, napi_value object, const char *name, int64_t value) {
  napi_set_named_property(env, object, name, make_int(env, value));
}

static napi_value init(napi_env env, napi_value exports) {
  export_function(env, exports, "peekChild", peek_child);
  export_function(env, exports, "reapChild", reap_child);
  export_function(env, exports, "setChildSubreaper", set_child_subreaper);
  export_function(env, exports, "reboot", do_reboot);
  export_function(env, exports, "mount", do_mount);
  export_function(env, exports, "umount2", do_umount2);
  export_function(env, exports, "chroot", do_chroot);
  export_function(env, exports, "sync", do_sync);
  export_function(env, exports, "setsid", do_setsid);
  export_function(env, exports, "setControllingTty", set_controlling_tty);
  export_function(env, exports, "peerCredentials", peer_credentials);
  export_function(env, exports, "watchSignal", watch_signal);
  export_function(env, exports, "sigrtmin", sigrtmin);
  export_function(env, exports, "loadModule", load_module);
  export_function(env, exports, "loadModuleAsync", load_module_async);

  napi_value constants;
  napi_create_object(env, &constants);
  export_int(env, constants, "RB_AUTOBOOT", RB_AUTOBOOT);
  export_int(env, constants, "RB_HALT_SYSTEM", RB_HALT_SYSTEM);
  export_int(env, constants, "RB_POWER_OFF", RB_POWER_OFF);
  export_int(env, constants, "RB_ENABLE_CAD", RB_ENABLE_CAD);
  export_int(env, constants, "RB_DISABLE_CAD", RB_DISABLE_CAD);
  export_int(env, constants, "MS_RDONLY", MS_RDONLY);
  export_int(env, constants, "MS_NOSUID", MS_NOSUID);
  export_int(env, constants, "MS_NODEV", MS_NODEV);
  export_int(env, constants, "MS_NOEXEC", MS_NOEXEC);
  export_int(env, constants, "MS_REMOUNT", MS_REMOUNT);
  export_int(env, constants, "MS_BIND", MS_BIND);
  export_int(env, constants, "MS_REC", MS_REC);
  export_int(env, constants, "MS_PRIVATE", MS_PRIVATE);
  export_int(env, constants, "MS_MOVE", MS_MOVE);
  export_int(env, constants, "MS_RELATIME", MS_RELATIME);
  export_int(env, constants, "MNT_FORCE", MNT_FORCE);
  export_int(env, constants, "MNT_DETACH", MNT_DETACH);
  napi_set_named_property(env, exports, "constants", constants);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
