# testfailures.awk: from a 'go test -v' log (make test's test.log), print
# the output of every failed test and subtest, last 150 lines each, so a
# failing run says why on the console (which shows only result lines).
# Usage: awk -f tools/testfailures.awk test.log
function flush_pkg(pkg,    n, i, name, k, from) {
	for (i = 1; i <= nfailed; i++) {
		name = failed[i]
		n = count[name] + 0
		printf "\n=== output of failed %s (%s)%s\n", name, pkg, (n > 150 ? ", last 150 lines" : "")
		from = (n > 150 ? n - 149 : 1)
		for (k = from; k <= n; k++) print lines[name, k]
	}
	delete lines; delete count; delete failed; nfailed = 0; cur = ""
}
/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
/^ *--- FAIL: / { name = $3; failed[++nfailed] = name; cur = name; next }
/^ *--- (PASS|SKIP): / { cur = ""; next }
/^(ok|FAIL)[ \t]+[^ \t]+/ { if (nfailed) flush_pkg($2); next }
{ if (cur != "") { count[cur]++; lines[cur, count[cur]] = $0 } }
