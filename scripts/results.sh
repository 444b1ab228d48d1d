# Test result bookkeeping for the check scripts; sourced.
# RESULTS must name a file; each line: STATUS<TAB>NAME<TAB>DETAIL

result() {      # result PASS|FAIL|SKIP NAME [DETAIL]
    local st=$1 name=$2 detail=${3:-}
    printf '%s\t%s\t%s\n' "$st" "$name" "$detail" >>"$RESULTS"
    printf '%-4s %s%s\n' "$st" "$name" "${detail:+  ($detail)}" >&2
}

# run_check NAME LOGFILE CMD...: PASS if CMD succeeds, FAIL otherwise
run_check() {
    local name=$1 logf=$2
    shift 2
    if "$@" >"$logf" 2>&1; then
        result PASS "$name"
    else
        result FAIL "$name" "log: $logf"
        tail -n 25 "$logf" | sed 's/^/    | /' >&2
    fi
}

summary() {
    local p f s
    p=$(grep -c '^PASS' "$RESULTS" || true)
    f=$(grep -c '^FAIL' "$RESULTS" || true)
    s=$(grep -c '^SKIP' "$RESULTS" || true)
    echo
    echo "== results =="
    column -t -s $'\t' "$RESULTS" | sed 's/^/  /'
    echo
    echo "$p passed, $f failed, $s skipped"
    [ "$f" -eq 0 ]
}
