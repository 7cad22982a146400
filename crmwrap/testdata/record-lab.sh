#!/bin/bash
# record-lab.sh records the fixtures that need a running cluster: live
# crm_mon and CIB with a real DC, crm_node answers from a real controller,
# a node that is really killed and fenced (fence history), and the minority
# side of a network partition (no quorum). It brings up its own lab with
# `vnfha lab up --name crmwrap-rec` and removes it at the end.
#
# Usage (as root, from crmwrap/): VNFHA=/path/to/vnfha testdata/record-lab.sh
# then go test ./crmwrap/... -update to regenerate the golden files.
set -euo pipefail

cd "$(dirname "$0")"
td=$PWD
# crm_mon and whole-CIB fixtures live beside their parsers.
mondir=$td/../crmmon/testdata
cibdir=$td/../cib/testdata
vnfha=${VNFHA:-vnfha}
name=crmwrap-rec
mkdir -p "$mondir" "$cibdir/status" "$td/cibadmin" "$td/crm_node" "$td/crm_resource"

"$vnfha" lab down --name "$name" >/dev/null 2>&1 || true
"$vnfha" lab up --name "$name" >&2
trap '"$vnfha" lab down --name "$name" >&2' EXIT

# on NODE CMD...: run a command inside a lab node.
on() { local n=$1; shift; "$vnfha" lab exec --name "$name" "$n" -- "$@"; }
mon() { on "$1" crm_mon --one-shot --inactive --output-as=xml || true; }
# wait_for NODE PATTERN WHAT: poll crm_mon on NODE until its XML matches.
wait_for() {
	local n=$1 pat=$2 what=$3
	for _ in $(seq 120); do
		if mon "$n" | grep -Eq -- "$pat"; then return 0; fi
		sleep 0.5
	done
	echo "timed out waiting for $what" >&2
	return 1
}

# A VIP-like primitive colocated with the promoted instance of a
# promotable Stateful clone: the shape vnfha deploys.
on node1 cibadmin --create --scope resources --xml-text '<primitive id="vip" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="vip-monitor-10s" name="monitor" interval="10s"/></operations></primitive>'
on node1 cibadmin --create --scope resources --xml-text '<clone id="state-clone"><meta_attributes id="state-clone-meta"><nvpair id="state-clone-meta-promotable" name="promotable" value="true"/><nvpair id="state-clone-meta-promoted-max" name="promoted-max" value="1"/></meta_attributes><primitive id="state" class="ocf" provider="pacemaker" type="Stateful"><operations><op id="state-monitor-10s" name="monitor" interval="10s" role="Promoted"/><op id="state-monitor-11s" name="monitor" interval="11s" role="Unpromoted"/></operations></primitive></clone>'
on node1 cibadmin --create --scope constraints --xml-text '<rsc_colocation id="vip-with-promoted-state" rsc="vip" with-rsc="state-clone" with-rsc-role="Promoted" score="INFINITY"/>'
wait_for node1 'id="state" .*role="Promoted"' "a promoted instance"
wait_for node1 'id="vip" .*role="Started"' "vip started"

# lab-running: a healthy, live cluster.
mon node1 >"$mondir/lab-running.xml"
on node1 cibadmin --query >"$cibdir/lab-running.xml"
on node1 crm_node --list >"$td/crm_node/lab-list.txt"
on node1 crm_node --quorum >"$td/crm_node/lab-quorum.txt"
on node2 crm_node --cluster-id >"$td/crm_node/lab-cluster-id.txt"
on node2 crm_node --name >"$td/crm_node/lab-name.txt"
on node2 crm_node --partition >"$td/crm_node/lab-partition.txt"
vipnode=$(on node1 crm_resource --locate --resource vip --output-as=xml | tee "$td/crm_resource/lab-locate-vip.xml" | sed -n 's|.*<node[^>]*>\(node[0-9]*\)</node>.*|\1|p' | head -1)

# lab-resource-failed: crm_resource --fail records a failure of vip where
# it runs; the cluster recovers it and keeps the failure.
on node1 crm_resource --fail --resource vip --node "$vipnode" >/dev/null
wait_for node1 '<failure op_key="vip_' "vip's recorded failure"
sleep 2
mon node1 >"$mondir/lab-resource-failed.xml"
on node1 cibadmin --query --scope status >"$cibdir/status/lab-query-status-failed.xml"
on node1 crm_resource --cleanup --resource vip >/dev/null

# lab-node-fenced: the node holding the promoted instance is powered off;
# the cluster fences it, promotes elsewhere and records the fencing.
promoted=$(on node1 crm_resource --locate --resource state-clone --output-as=xml | sed -n 's|.*<node state="promoted">\(node[0-9]*\)</node>.*|\1|p')
viewer=node1
[ "$promoted" = node1 ] && viewer=node2
"$vnfha" lab kill --name "$name" "$promoted" >&2
wait_for "$viewer" "<fence_event [^>]*status=\"success\"[^>]*target=\"$promoted\"|<fence_event [^>]*target=\"$promoted\"[^>]*status=\"success\"" "fencing of $promoted"
wait_for "$viewer" 'id="state" .*role="Promoted"' "promotion after fencing"
mon "$viewer" >"$mondir/lab-node-fenced.xml"
on "$viewer" cibadmin --query >"$cibdir/lab-node-fenced.xml"
on "$viewer" crm_node --list >"$td/crm_node/lab-list-lost.txt"
"$vnfha" lab start --name "$name" "$promoted" >&2

# lab-partition-minority: node1 alone on its side of a partition has no
# quorum; crm_node --quorum prints 0 and exits 106.
wait_for node2 '<node name="'"$promoted"'" [^>]*online="true"' "$promoted back online"
"$vnfha" lab partition --name "$name" node1 >&2
wait_for node1 'with_quorum="false"' "node1 losing quorum"
mon node1 >"$mondir/lab-partition-minority.xml"
on node1 crm_node --quorum >"$td/crm_node/lab-quorum-lost.txt" || echo "exit $?" >&2
"$vnfha" lab heal --name "$name" >&2

echo "recorded into $td" >&2
