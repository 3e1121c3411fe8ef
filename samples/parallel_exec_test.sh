#!/bin/sh
# Smoke test of samples/parallel_exec (samples/meson.build):
#   parallel_exec_test.sh PARALLEL_EXEC COMMANDS
# runs COMMANDS (a success, a failure, a timeout) from a file and from
# stdin, then interrupts a run with SIGINT and checks that no command it
# started is left running.
set -u
prog=$1 list=$2
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

check() { # output status
    printf '%s\n' "$1"
    [ "$2" = 123 ] || fail "exit status $2, want 123"
    want='^5 commands: 3 ok, 1 failed, 1 timed out, 0 cancelled'
    printf '%s\n' "$1" | grep -q "$want" || fail "summary"
    order=$(printf '%s\n' "$1" | sed -n 's/^\[\([0-9]\)\].*/\1/p' | tr -d '\n')
    [ "$order" = 12345 ] || fail "output order $order"
    printf '%s\n' "$1" | grep -q '^\[2\] failed (3)' || fail "the failure"
    printf '%s\n' "$1" | grep -q '^\[3\] timed out' || fail "the timeout"
    printf '%s\n' "$1" | grep -q '^never' && fail "the timeout finished"
    return 0
}
out=$("$prog" -j 2 -t 1 "$list")
check "$out" $?
out=$("$prog" -j 2 -t 1 <"$list")
check "$out" $?

# SIGINT once two long commands run (the third waits for a slot): they
# are killed, the third never starts, and nothing is left behind.
mark=$$
running() {
    for f in /proc/[0-9]*/cmdline; do
        { tr '\0' ' ' <"$f"; } 2>/dev/null
        echo
    done | grep -c "^sleep 6[0-2]\.$mark "
}
printf 'sleep 60.%s\nsleep 61.%s\nsleep 62.%s\n' $mark $mark $mark >"$tmp"
"$prog" -j 2 -t 100 "$tmp" >"$tmp.out" &
pid=$!
n=0
while [ "$(running)" -lt 2 ]; do
    n=$((n + 1))
    [ $n -lt 1000 ] || fail "the commands never started"
    sleep 0.02
done
kill -INT $pid
wait $pid
status=$?
cat "$tmp.out"
[ $status = 130 ] || fail "exit status $status after SIGINT, want 130"
[ "$(running)" = 0 ] || fail "commands left running after SIGINT"
grep -q '^3 commands: 0 ok, 0 failed, 0 timed out, 3 cancelled' "$tmp.out" ||
    fail "summary after SIGINT"
echo "ok"
