// aios_bm25: FTS5's bm25() ranking (ext/fts5/fts5_aux.c, fts5Bm25Function: k1 = 1.2,
// b = 0.75, the same IDF floor) with one change: the number of rows that hold each phrase is
// remembered between queries instead of counted again by each one. bm25() walks a phrase's
// whole doclist on every query (about 20 ns a row: 2 ms for a word in a tenth of a million
// rows), which was most of the time of a memory search at a million memories.
//
// A loadable SQLite extension (db.loadExtension in better-sqlite3), registered with the
// connection's fts5_api. Its cache belongs to the connection (the function's user data) and is
// keyed by the FTS5 table and the phrase's token text (after the tokenizer: "installed" and
// "install" are the same entry). A count is counted again when the table's row count has moved
// by more than 1 % since it was counted, or when it is older than the maximum age (60 s unless
// aios_bm25_max_age(seconds) says otherwise). So a score can lag: an update or a few deletes
// that change how many rows hold a word show up within the maximum age.
//
// Use: aios_bm25(fts_table, match_text), match_text being the MATCH expression. The counts are
// cached only when the expression is plain phrases ("a" "b c", each quoted, nothing but spaces
// between them): a prefix ("ngin"*), a column filter, NEAR, OR or NOT change what a phrase
// matches without changing its token text, so such a query (or one without match_text) is
// ranked exactly as bm25() ranks it, counting every time.
// aios_bm25(fts_table, match_text, n) scores only the first n phrases: the memory store ANDs a
// row-type word after the person's words to narrow the search, and that word must not move the
// ranking (every row it finds holds it once).
// aios_bm25_forget() empties the connection's cache.
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#define DEFAULT_MAX_AGE_NS (60LL * 1000 * 1000 * 1000)
#define MAX_ENTRIES 4096

typedef struct Entry Entry;
struct Entry {
  Entry *next;
  const void *table;      // the FTS5 table's sqlite3_vtab
  sqlite3_int64 hits;     // rows holding the phrase, when counted
  sqlite3_int64 rows;     // the table's row count, when counted
  int64_t counted_ns;     // CLOCK_MONOTONIC, when counted
  uint64_t hash;
  int size;
  unsigned char key[];    // the phrase's tokens, each as a 4-byte length then its bytes
};

typedef struct Cache {
  Entry *buckets[1024];
  int entries;
  int64_t max_age_ns;
} Cache;

// Per query (xSetAuxdata), as bm25()'s Fts5Bm25Data.
typedef struct Data {
  int phrases;
  double avgdl;
  double *idf;
  double *freq;
} Data;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void cache_clear(Cache *cache) {
  for (size_t i = 0; i < sizeof cache->buckets / sizeof cache->buckets[0]; i++) {
    Entry *e = cache->buckets[i];
    while (e) {
      Entry *next = e->next;
      sqlite3_free(e);
      e = next;
    }
    cache->buckets[i] = 0;
  }
  cache->entries = 0;
}

static void cache_destroy(void *p) {
  cache_clear((Cache *)p);
  sqlite3_free(p);
}

static int count_cb(const Fts5ExtensionApi *api, Fts5Context *fts, void *user) {
  (void)api;
  (void)fts;
  (*(sqlite3_int64 *)user)++;
  return SQLITE_OK;
}

// Whether the MATCH text is only quoted phrases separated by spaces (what ftsQuery makes
// without a prefix): then each phrase matches exactly the rows that hold its tokens in order.
static int plain_phrases(const unsigned char *text, int n) {
  int i = 0, phrases = 0;
  while (i < n) {
    unsigned char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      i++;
      continue;
    }
    if (c != '"') return 0;
    for (i++;; i++) {
      if (i >= n) return 0;
      if (text[i] == '"') {
        if (i + 1 < n && text[i + 1] == '"') {
          i++;
          continue;
        }
        break;
      }
    }
    i++;
    phrases++;
    // A phrase must be followed by a space or the end (not `*`, `:`, `+`...).
    if (i < n && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') return 0;
  }
  return phrases > 0;
}

// The phrase's key: its tokens, length-prefixed. Returns the size, or -1 on an error (*rc set).
static int phrase_key(const Fts5ExtensionApi *api, Fts5Context *fts, int phrase, unsigned char **out, int *rc) {
  int tokens = api->xPhraseSize(fts, phrase);
  sqlite3_int64 size = 0;
  for (int t = 0; t < tokens; t++) {
    const char *text;
    int n;
    if ((*rc = api->xQueryToken(fts, phrase, t, &text, &n)) != SQLITE_OK) return -1;
    size += 4 + n;
  }
  if (size > 1 << 20) return -1;  // not cached: counted as bm25() counts
  unsigned char *key = sqlite3_malloc64(size ? size : 1);
  if (!key) {
    *rc = SQLITE_NOMEM;
    return -1;
  }
  unsigned char *p = key;
  for (int t = 0; t < tokens; t++) {
    const char *text;
    int n;
    if ((*rc = api->xQueryToken(fts, phrase, t, &text, &n)) != SQLITE_OK) {
      sqlite3_free(key);
      return -1;
    }
    uint32_t len = (uint32_t)n;
    memcpy(p, &len, 4);
    memcpy(p + 4, text, n);
    p += 4 + n;
  }
  *out = key;
  return (int)size;
}

static uint64_t hash_of(const void *table, const unsigned char *key, int size) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)table;
  for (int i = 0; i < size; i++) h = (h ^ key[i]) * 1099511628211ULL;
  return h;
}

// The number of rows that hold the phrase: from the cache when the count is fresh enough,
// else counted (as bm25() counts it) and remembered.
static int phrase_hits(const Fts5ExtensionApi *api, Fts5Context *fts, Cache *cache, int cacheable, int phrase,
                       sqlite3_int64 rows, int64_t now, sqlite3_int64 *hits) {
  int rc = SQLITE_OK;
  unsigned char *key = 0;
  int size = cacheable ? phrase_key(api, fts, phrase, &key, &rc) : -1;
  if (rc != SQLITE_OK) return rc;
  if (size < 0) {
    *hits = 0;
    return api->xQueryPhrase(fts, phrase, hits, count_cb);
  }
  // Fts5Context is FTS5's cursor, which begins with the public sqlite3_vtab_cursor.
  const void *table = ((sqlite3_vtab_cursor *)fts)->pVtab;
  uint64_t h = hash_of(table, key, size);
  size_t bucket = h % (sizeof cache->buckets / sizeof cache->buckets[0]);
  Entry *e = cache->buckets[bucket];
  while (e && !(e->hash == h && e->table == table && e->size == size && memcmp(e->key, key, size) == 0)) e = e->next;
  if (e) {
    sqlite3_int64 moved = rows > e->rows ? rows - e->rows : e->rows - rows;
    if (moved * 100 <= e->rows && now - e->counted_ns <= cache->max_age_ns) {
      *hits = e->hits;
      sqlite3_free(key);
      return SQLITE_OK;
    }
  }
  sqlite3_int64 counted = 0;
  rc = api->xQueryPhrase(fts, phrase, &counted, count_cb);
  if (rc == SQLITE_OK) {
    *hits = counted;
    if (!e) {
      if (cache->entries >= MAX_ENTRIES) cache_clear(cache);
      e = sqlite3_malloc64(sizeof(Entry) + size);
      if (e) {
        e->table = table;
        e->hash = h;
        e->size = size;
        memcpy(e->key, key, size);
        e->next = cache->buckets[bucket];
        cache->buckets[bucket] = e;
        cache->entries++;
      }
    }
    if (e) {
      e->hits = counted;
      e->rows = rows;
      e->counted_ns = now;
    }
  }
  sqlite3_free(key);
  return rc;
}

static int get_data(const Fts5ExtensionApi *api, Fts5Context *fts, Cache *cache, int cacheable, Data **out) {
  int rc = SQLITE_OK;
  Data *p = api->xGetAuxdata(fts, 0);
  if (!p) {
    int phrases = api->xPhraseCount(fts);
    sqlite3_int64 bytes = sizeof(Data) + phrases * 2 * sizeof(double);
    p = sqlite3_malloc64(bytes);
    if (!p) return SQLITE_NOMEM;
    memset(p, 0, bytes);
    p->phrases = phrases;
    p->idf = (double *)&p[1];
    p->freq = &p->idf[phrases];
    sqlite3_int64 rows = 0, tokens = 0;
    rc = api->xRowCount(fts, &rows);
    if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &tokens);
    if (rc == SQLITE_OK) p->avgdl = (double)tokens / (double)rows;
    int64_t now = now_ns();
    for (int i = 0; rc == SQLITE_OK && i < phrases; i++) {
      sqlite3_int64 hits = 0;
      rc = phrase_hits(api, fts, cache, cacheable, i, rows, now, &hits);
      if (rc == SQLITE_OK) {
        double idf = log((rows - hits + 0.5) / (hits + 0.5));
        if (idf <= 0.0) idf = 1e-6;
        p->idf[i] = idf;
      }
    }
    if (rc != SQLITE_OK) {
      sqlite3_free(p);
      return rc;
    }
    if ((rc = api->xSetAuxdata(fts, p, sqlite3_free)) != SQLITE_OK) return rc;
  }
  *out = p;
  return SQLITE_OK;
}

static void aios_bm25(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const double k1 = 1.2;
  const double b = 0.75;
  Cache *cache = api->xUserData(fts);
  int cacheable = 0;
  if (argc >= 1 && sqlite3_value_type(argv[0]) == SQLITE_TEXT) {
    cacheable = plain_phrases(sqlite3_value_text(argv[0]), sqlite3_value_bytes(argv[0]));
  }
  Data *data = 0;
  int instances = 0;
  int rc = get_data(api, fts, cache, cacheable, &data);
  if (rc == SQLITE_OK) {
    memset(data->freq, 0, sizeof(double) * data->phrases);
    rc = api->xInstCount(fts, &instances);
  }
  for (int i = 0; rc == SQLITE_OK && i < instances; i++) {
    int phrase, column, offset;
    rc = api->xInst(fts, i, &phrase, &column, &offset);
    if (rc == SQLITE_OK) data->freq[phrase] += 1.0;
  }
  double D = 0.0;
  if (rc == SQLITE_OK) {
    int tokens;
    rc = api->xColumnSize(fts, -1, &tokens);
    D = (double)tokens;
  }
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(ctx, rc);
    return;
  }
  int scored = data->phrases;
  if (argc >= 2 && sqlite3_value_type(argv[1]) == SQLITE_INTEGER) {
    sqlite3_int64 n = sqlite3_value_int64(argv[1]);
    if (n >= 0 && n < scored) scored = (int)n;
  }
  double score = 0.0;
  for (int i = 0; i < scored; i++) {
    score += data->idf[i] * ((data->freq[i] * (k1 + 1.0)) / (data->freq[i] + k1 * (1 - b + b * D / data->avgdl)));
  }
  sqlite3_result_double(ctx, -1.0 * score);
}

static void forget_function(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  cache_clear(sqlite3_user_data(ctx));
  sqlite3_result_null(ctx);
}

static void max_age_function(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Cache *cache = sqlite3_user_data(ctx);
  double previous = (double)cache->max_age_ns / 1e9;
  if (sqlite3_value_type(argv[0]) != SQLITE_NULL) {
    double seconds = sqlite3_value_double(argv[0]);
    if (!(seconds >= 0 && seconds < 1e9)) {
      sqlite3_result_error(ctx, "aios_bm25_max_age: expected seconds, from 0", -1);
      return;
    }
    cache->max_age_ns = (int64_t)(seconds * 1e9);
  }
  sqlite3_result_double(ctx, previous);
}

static fts5_api *fts5_api_of(sqlite3 *db) {
  fts5_api *api = 0;
  sqlite3_stmt *stmt = 0;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, 0) != SQLITE_OK) return 0;
  sqlite3_bind_pointer(stmt, 1, (void *)&api, "fts5_api_ptr", 0);
  sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  return api;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_aiosrank_init(sqlite3 *db, char **error, const sqlite3_api_routines *routines) {
  SQLITE_EXTENSION_INIT2(routines);
  fts5_api *fts5 = fts5_api_of(db);
  if (!fts5 || fts5->iVersion < 2) {
    *error = sqlite3_mprintf("aios_rank: this SQLite has no FTS5 (version 2 or later)");
    return SQLITE_ERROR;
  }
  Cache *cache = sqlite3_malloc64(sizeof(Cache));
  if (!cache) return SQLITE_NOMEM;
  memset(cache, 0, sizeof(Cache));
  cache->max_age_ns = DEFAULT_MAX_AGE_NS;
  // The cache outlives the FTS5 function (freed by it, when the connection closes); the two
  // SQL functions only use it while the connection is open.
  int rc = fts5->xCreateFunction(fts5, "aios_bm25", cache, aios_bm25, cache_destroy);
  if (rc != SQLITE_OK) {
    cache_destroy(cache);
    return rc;
  }
  rc = sqlite3_create_function(db, "aios_bm25_forget", 0, SQLITE_UTF8, cache, forget_function, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "aios_bm25_max_age", 1, SQLITE_UTF8, cache, max_age_function, 0, 0);
  return rc;
}
