/*
 * aios_llama_threads: one persistent ggml threadpool per llama.cpp context in the models service.
 *
 * node-llama-cpp attaches no threadpool to its contexts, so ggml starts its compute threads for
 * every graph and joins them at its end: once per generated token. llama.cpp's own programs
 * (llama-bench, llama-server) keep a pool per context instead, whose threads wait between
 * graphs. On the 2-core machines measured, the throwaway threads cost a 1.1B model a fifth of
 * its generation speed at 2 threads (bench/local.ts).
 *
 * How: the models service loads this addon with RTLD_GLOBAL before node-llama-cpp loads its own.
 * The dynamic linker then binds node-llama-cpp's calls of llama_init_from_model,
 * llama_set_n_threads and llama_free to the definitions here, which call the real ones in the
 * libllama already loaded and attach, resize or free the context's pool around them.
 *
 * Invariants:
 * - The context is llama.cpp's as it would be without this addon; only its threads differ. A
 *   pool that cannot be made leaves the context with ggml's throwaway threads.
 * - The structures passed by value are llama.cpp's own, from the headers of the release
 *   node-llama-cpp carries (src/native/llama-headers.sh), so their layout is that of the
 *   libraries loaded.
 * - AIOS_LLAMA_THREADPOOL=off in the environment turns the pools off (for comparing).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "llama.h"

/* Where this addon is loaded: its own definitions are never the real ones. */
static void *own_base(void) {
  Dl_info info;
  return dladdr((void *)own_base, &info) ? info.dli_fbase : NULL;
}

struct lookup {
  const char *symbol;
  void *found;
};

static int lookup_in(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct lookup *l = data;
  if (!info->dlpi_name[0]) return 0;
  void *handle = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) return 0;
  void *p = dlsym(handle, l->symbol);
  dlclose(handle);
  Dl_info where;
  if (p && dladdr(p, &where) && where.dli_fbase != own_base()) {
    l->found = p;
    return 1;
  }
  return 0;
}

/*
 * The real function, from the libraries loaded in this process. libllama and libggml are loaded
 * by node-llama-cpp's addon into its own scope, where dlsym(RTLD_NEXT) does not look.
 */
static void *real(const char *symbol) {
  struct lookup l = {symbol, NULL};
  dl_iterate_phdr(lookup_in, &l);
  return l.found;
}

struct pool {
  struct llama_context *ctx;
  struct ggml_threadpool *threadpool;
  int threads;
  struct pool *next;
};

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *pools;
static long pools_made;

static int enabled(void) {
  const char *v = getenv("AIOS_LLAMA_THREADPOOL");
  return !(v && (!strcmp(v, "off") || !strcmp(v, "0")));
}

typedef struct ggml_threadpool *(*threadpool_new_fn)(struct ggml_threadpool_params *);
typedef void (*threadpool_free_fn)(struct ggml_threadpool *);

/* ggml_threadpool_new and _free live in the CPU backend ggml picked at run time. */
static void *cpu_backend_function(const char *name) {
  ggml_backend_dev_t (*by_type)(enum ggml_backend_dev_type) = real("ggml_backend_dev_by_type");
  ggml_backend_reg_t (*reg_of)(ggml_backend_dev_t) = real("ggml_backend_dev_backend_reg");
  void *(*proc)(ggml_backend_reg_t, const char *) = real("ggml_backend_reg_get_proc_address");
  if (!by_type || !reg_of || !proc) return NULL;
  ggml_backend_dev_t dev = by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  return dev ? proc(reg_of(dev), name) : NULL;
}

static void free_threadpool(struct ggml_threadpool *threadpool) {
  threadpool_free_fn free_fn = cpu_backend_function("ggml_threadpool_free");
  if (free_fn && threadpool) free_fn(threadpool);
}

/* A pool of `threads` attached to ctx (for single tokens and batches alike); the one before freed. */
static void attach(struct llama_context *ctx, int threads) {
  if (!enabled() || threads < 2) return; /* one thread is the caller's own: no pool to keep */
  threadpool_new_fn new_fn = cpu_backend_function("ggml_threadpool_new");
  struct ggml_threadpool_params (*defaults)(int) = real("ggml_threadpool_params_default");
  void (*attach_fn)(struct llama_context *, ggml_threadpool_t, ggml_threadpool_t) = real("llama_attach_threadpool");
  if (!new_fn || !defaults || !attach_fn) return;
  struct ggml_threadpool_params params = defaults(threads);
  struct ggml_threadpool *threadpool = new_fn(&params);
  if (!threadpool) return;
  attach_fn(ctx, threadpool, NULL);
  pthread_mutex_lock(&pools_lock);
  struct pool *p = pools;
  while (p && p->ctx != ctx) p = p->next;
  struct ggml_threadpool *before = NULL;
  if (p) {
    before = p->threadpool;
  } else if ((p = calloc(1, sizeof *p))) {
    p->ctx = ctx;
    p->next = pools;
    pools = p;
  }
  if (p) {
    p->threadpool = threadpool;
    p->threads = threads;
  }
  pools_made++;
  pthread_mutex_unlock(&pools_lock);
  free_threadpool(before);
}

static int max(int a, int b) { return a > b ? a : b; }

struct llama_context *llama_init_from_model(struct llama_model *model, struct llama_context_params params) {
  struct llama_context *(*init)(struct llama_model *, struct llama_context_params) = real("llama_init_from_model");
  if (!init) {
    fprintf(stderr, "aios_llama_threads: libllama is not loaded\n");
    abort();
  }
  struct llama_context *ctx = init(model, params);
  if (ctx) attach(ctx, max(params.n_threads, params.n_threads_batch));
  return ctx;
}

void llama_set_n_threads(struct llama_context *ctx, int32_t n_threads, int32_t n_threads_batch) {
  void (*set)(struct llama_context *, int32_t, int32_t) = real("llama_set_n_threads");
  if (!set) abort();
  set(ctx, n_threads, n_threads_batch);
  int threads = max(n_threads, n_threads_batch);
  pthread_mutex_lock(&pools_lock);
  struct pool *p = pools;
  while (p && p->ctx != ctx) p = p->next;
  int have = p ? p->threads : 0;
  pthread_mutex_unlock(&pools_lock);
  if (have != threads) attach(ctx, threads);
}

void llama_free(struct llama_context *ctx) {
  void (*free_fn)(struct llama_context *) = real("llama_free");
  if (!free_fn) abort();
  free_fn(ctx);
  pthread_mutex_lock(&pools_lock);
  struct pool **link = &pools;
  while (*link && (*link)->ctx != ctx) link = &(*link)->next;
  struct pool *p = *link;
  if (p) *link = p->next;
  pthread_mutex_unlock(&pools_lock);
  if (p) {
    free_threadpool(p->threadpool);
    free(p);
  }
}

/* threadpools(): { live: [{ threads }], made } for the models service's status and its tests. */
static napi_value threadpools(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, live, made, entry, threads;
  napi_create_object(env, &result);
  napi_create_array(env, &live);
  pthread_mutex_lock(&pools_lock);
  uint32_t i = 0;
  for (struct pool *p = pools; p; p = p->next) {
    napi_create_object(env, &entry);
    napi_create_int32(env, p->threads, &threads);
    napi_set_named_property(env, entry, "threads", threads);
    napi_set_element(env, live, i++, entry);
  }
  napi_create_int64(env, pools_made, &made);
  pthread_mutex_unlock(&pools_lock);
  napi_set_named_property(env, result, "live", live);
  napi_set_named_property(env, result, "made", made);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "threadpools", NAPI_AUTO_LENGTH, threadpools, NULL, &fn);
  napi_set_named_property(env, exports, "threadpools", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
