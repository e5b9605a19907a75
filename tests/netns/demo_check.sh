#!/usr/bin/env bash
# Checks the printout of scripts/demo.sh (its path is the argument): what the
# demo claims to show is there. Each line below is one claim.
set -euo pipefail
out="$1"
failed=0
claim() {
    local what="$1" re="$2" want="${3:-1}"
    local n
    n=$(grep -cE -- "$re" "$out" || true)
    if [ "$n" -ge "$want" ]; then
        echo "demo_check: ok: $what"
    else
        echo "demo_check: FAIL: $what (wanted $want line(s) matching: $re; found $n)" >&2
        failed=1
    fi
}
claim "both LAN hosts ping the WAN host" '^  lan[12]\| 3 packets transmitted, 3 received, 0% packet loss' 2
claim "UDP leaves from the WAN address" '^  lan[12]\| the WAN host saw 198\.18\.0\.1:[0-9]+$' 2
claim "a LAN host downloads over HTTP" '^  lan1\| HTTP 200, 4194304 bytes'
claim "GRE crosses and its answer comes back" '^  lan[12]\| answer from 198\.18\.0\.2: answer to GRE from lan[12]$' 2
claim "natpmpc gets a mapping on the WAN address" '^  lan1\| natpmpc: Mapped public port [0-9]+ protocol TCP to local port 8000'
claim "the WAN host reaches the LAN host's server through it" '^  wan\| curl http://198\.18\.0\.1:[0-9]+/: served by lan1$'
claim "the box's own curl works, before and after the address change" '^  box\| curl: HTTP 200, 4194304 bytes' 2
claim "the box's own ping loses nothing" '^  box\| [0-9]+ packets transmitted, ([0-9]+) received, 0% packet loss' 2
claim "masq follows the new WAN address" 'address 198\.18\.0\.1 -> 198\.18\.0\.5: [0-9]+ session\(s\) on the old address removed'
claim "new flows leave from the new address" '^  lan[12]\| the WAN host saw 198\.18\.0\.5:[0-9]+$' 2
claim "snat's second act uses the pool" '^  lan[12]\| the WAN host saw 198\.19\.0\.[0-7]:[0-9]+$' 2
claim "the demo ran to its end" '^.*demo: done; namespaces removed'
if grep -q "FAILED\|no answer\|no echo" "$out"; then
    echo "demo_check: FAIL: the printout reports a failure:" >&2
    grep "FAILED\|no answer\|no echo" "$out" >&2
    failed=1
fi
exit "$failed"
