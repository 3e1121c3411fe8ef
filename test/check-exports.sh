#!/bin/sh
# check-exports.sh LIB: the shared library exports the public API (uvgo_*)
# and nothing internal: no uvgo__ symbol, nothing without the uvgo_ prefix.
# Prints TAP.
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }')
echo "1..3"
n=$(echo "$syms" | grep -c '^uvgo_[a-z]')
if [ "$n" -gt 100 ]; then echo "ok 1 - exports the public API ($n symbols)"; else echo "not ok 1 - exports only $n public symbols"; fi
internal=$(echo "$syms" | grep '^uvgo__')
if [ -z "$internal" ]; then echo "ok 2 - exports no uvgo__ symbol"; else echo "not ok 2 - exports internal symbols:"; echo "$internal" | sed 's/^/# /'; fi
other=$(echo "$syms" | grep -v '^uvgo_' | grep -v '^_\(init\|fini\|edata\|end\|_bss_start\)$')
if [ -z "$other" ]; then echo "ok 3 - exports nothing outside the uvgo_ prefix"; else echo "not ok 3 - exports foreign symbols:"; echo "$other" | sed 's/^/# /'; fi
