#!/bin/sh
# check-alloc.sh LIB.a: every heap allocation in libuvgo goes through the
# replaceable allocator (src/base/alloc.c): no other object file calls the C
# library's allocation functions.  sync/pool.c may call free(), for objects
# the user's new_fn made (uvgo/sync.h says so), and http/debug.c for the
# buffer open_memstream() made.  Prints TAP.
lib=$1
echo "1..1"
bad=$(nm -A --undefined-only "$lib" 2>/dev/null |
    awk '{ sub(/:$/, "", $1); n = split($1, p, ":"); obj = p[n];
           sym = $NF; sub(/@.*/, "", sym);
           if (sym !~ /^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|valloc|strdup|strndup|reallocarray)$/) next;
           if (obj ~ /alloc\.c\.o$/) next;
           if (obj ~ /(pool|debug)\.c\.o$/ && sym == "free") next;
           print obj ": " sym }')
if [ -z "$bad" ]; then
    echo "ok 1 - only src/base/alloc.c calls the C allocator"
else
    echo "not ok 1 - allocation outside src/base/alloc.c:"
    echo "$bad" | sed 's/^/# /'
fi
