{
  "targets": [
    {
      "target_name": "aios_native",
      "sources": ["aios-native.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "aios-spawn",
      "type": "executable",
      "sources": ["aios-spawn.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"],
      "ldflags": ["-static-libgcc"]
    },
    {
      "target_name": "aios_rank",
      "type": "loadable_module",
      "product_prefix": "",
      "product_extension": "so",
      "sources": ["aios-rank.c"],
      "include_dirs": ["../../node_modules/better-sqlite3/deps/sqlite3"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"],
      "libraries": ["-lm"]
    },
    {
      "target_name": "aios_llama_threads",
      "sources": ["aios-llama-threads.c"],
      "include_dirs": ["llama-headers/include", "llama-headers/ggml/include"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
