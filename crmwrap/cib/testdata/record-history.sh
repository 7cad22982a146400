#!/bin/bash
# record-history.sh records the operation histories that
# LRMResource.State is tested on, into testdata/history/ (whole CIBs, as
# `cibadmin --query` prints them):
#   - from a real lab: operations caught while pending (record-pending is on
#     by default in Pacemaker 2.1), a start that really fails, and its
#     recovery on another node;
#   - from crm_simulate on the lab's own CIB (no cluster needed for these):
#     a failed stop, a live migration, a failed migrate_from, a failed
#     demote, which a real cluster cannot be made to do on demand;
#   - crm_mon's XML for each, under testdata/history/crm_mon/.
#
# Usage (as root, from crmwrap/cib/; it runs a lab, so under the lab lock):
#   flock /tmp/vnfha-e2e.lock env VNFHA=/path/to/vnfha testdata/record-history.sh
set -euo pipefail

cd "$(dirname "$0")"
out=$PWD/history
vnfha=${VNFHA:-vnfha}
name=cibhist
work=$(mktemp -d)
mkdir -p "$out"

"$vnfha" lab down --name "$name" >/dev/null 2>&1 || true
"$vnfha" lab up --name "$name" >&2
trap '"$vnfha" lab down --name "$name" >&2; rm -rf "$work"' EXIT

on() { local n=$1; shift; "$vnfha" lab exec --name "$name" "$n" -- "$@"; }
cib() { on node1 cibadmin --query; }
# wait_cib PATTERN WHAT: poll the CIB (every 0.2 s, at most 60 s) until it
# matches; fast enough to catch an operation that runs for seconds.
wait_cib() {
	local pat=$1 what=$2
	for _ in $(seq 300); do
		if cib | grep -Eq -- "$pat"; then return 0; fi
		sleep 0.2
	done
	echo "timed out waiting for $what" >&2
	return 1
}
mon_match() { on node1 crm_mon --one-shot --inactive --output-as=xml | tr -d '\n' | grep -Eq -- "$1"; }
wait_mon() {
	local pat=$1 what=$2
	for _ in $(seq 120); do
		if mon_match "$pat"; then return 0; fi
		sleep 0.5
	done
	echo "timed out waiting for $what" >&2
	return 1
}

# slow: every operation of this Dummy takes 6 s, so its start and its stop
# are seen pending.
on node1 cibadmin --create --scope resources --xml-text '<primitive id="slow" class="ocf" provider="pacemaker" type="Dummy"><instance_attributes id="slow-ia"><nvpair id="slow-ia-op_sleep" name="op_sleep" value="6"/></instance_attributes><operations><op id="slow-monitor-10s" name="monitor" interval="10s" timeout="30s"/><op id="slow-start" name="start" interval="0" timeout="30s"/><op id="slow-stop" name="stop" interval="0" timeout="30s"/></operations></primitive>'
wait_cib '<lrm_rsc_op id="slow_last_0" [^>]*operation="start"[^>]*op-status="-1"' "slow's pending start"
cib >"$out/lab-pending-start.xml"
wait_mon 'id="slow" [^>]* role="Started"' "slow started"
wait_cib '<lrm_rsc_op id="slow_monitor_10000" [^>]*op-status="0"' "slow's first monitor"
cib >"$out/lab-started.xml"
on node1 crm_resource --resource slow --meta --set-parameter target-role --parameter-value Stopped >/dev/null
wait_cib '<lrm_rsc_op id="slow_last_0" [^>]*operation="stop"[^>]*op-status="-1"' "slow's pending stop"
cib >"$out/lab-pending-stop.xml"
wait_mon 'id="slow" [^>]* role="Stopped"' "slow stopped"
cib >"$out/lab-stopped.xml"

# flaky: its start fails on node2 (Dummy's fail_start_on), where it
# prefers to run; the cluster then stops it there and starts it elsewhere.
# It is created stopped, so that its constraint is in place before it starts.
on node1 cibadmin --create --scope resources --xml-text '<primitive id="flaky" class="ocf" provider="pacemaker" type="Dummy"><instance_attributes id="flaky-ia"><nvpair id="flaky-ia-fail_start_on" name="fail_start_on" value="node2"/><nvpair id="flaky-ia-op_sleep" name="op_sleep" value="2"/></instance_attributes><meta_attributes id="flaky-meta"><nvpair id="flaky-meta-target-role" name="target-role" value="Stopped"/></meta_attributes><operations><op id="flaky-monitor-10s" name="monitor" interval="10s" timeout="20s"/></operations></primitive>'
on node1 cibadmin --create --scope constraints --xml-text '<rsc_location id="flaky-prefers-node2" rsc="flaky" node="node2" score="100"/>'
on node1 crm_resource --resource flaky --meta --delete-parameter target-role >/dev/null
wait_cib '<lrm_rsc_op id="flaky_last_failure_0" [^>]*operation="start"' "flaky's failed start"
cib >"$out/lab-failed-start.xml"
wait_mon 'id="flaky" [^>]* role="Started"[^>]*>[^<]*<node name="node[13]"' "flaky started elsewhere"
wait_cib '<lrm_rsc_op id="flaky_monitor_10000" [^>]*op-status="0"' "flaky's monitor where it recovered"
cib >"$out/lab-failed-start-recovered.xml"

# Offline, with crm_simulate on the lab's CIB: a migratable Dummy, a
# promotable Stateful clone, and the failures to inject.
base=$work/base.xml
cib >"$base"
CIB_file=$base cibadmin --create --scope resources --xml-text '<primitive id="mig" class="ocf" provider="pacemaker" type="Dummy"><meta_attributes id="mig-meta"><nvpair id="mig-meta-allow-migrate" name="allow-migrate" value="true"/></meta_attributes><operations><op id="mig-monitor-10s" name="monitor" interval="10s"/></operations></primitive>'
CIB_file=$base cibadmin --create --scope resources --xml-text '<clone id="state-clone"><meta_attributes id="state-clone-meta"><nvpair id="state-clone-meta-promotable" name="promotable" value="true"/><nvpair id="state-clone-meta-promoted-max" name="promoted-max" value="1"/></meta_attributes><primitive id="state" class="ocf" provider="pacemaker" type="Stateful"><operations><op id="state-monitor-10s" name="monitor" interval="10s" role="Promoted"/><op id="state-monitor-11s" name="monitor" interval="11s" role="Unpromoted"/></operations></primitive></clone>'
CIB_file=$base cibadmin --create --scope constraints --xml-text '<rsc_location id="mig-prefers-node1" rsc="mig" node="node1" score="50"/>'
crm_simulate -x "$base" -S -O "$work/run.xml" >/dev/null
for n in 1 2 3; do
	CIB_file=$work/run.xml crm_attribute --promotion=state -N "node$n" -v $((n == 1 ? 10 : 5))
done
crm_simulate -x "$work/run.xml" -S -O "$work/running.xml" >/dev/null
cp "$work/running.xml" "$out/sim-running.xml"

# sim-migrated: mig is banned from node1 and live-migrates to another
# node: migrate_to on node1, migrate_from on the target, stop on node1.
cp "$work/running.xml" "$work/ban.xml"
CIB_file=$work/ban.xml crm_resource --resource mig --ban --node node1 >/dev/null
crm_simulate -x "$work/ban.xml" -S -O "$out/sim-migrated.xml" >/dev/null
# sim-migrate-from-failed: the same, but migrate_from fails on the target.
crm_simulate -x "$work/ban.xml" -S -O "$out/sim-migrate-from-failed.xml" -F mig_migrate_from_0@node2=1 -F mig_migrate_from_0@node3=1 >/dev/null

# sim-stop-failed: flaky is banned from where it runs and its stop fails
# there (rc 1); the node is then due to be fenced.
cp "$work/running.xml" "$work/ban-flaky.xml"
flakynode=$(CIB_file=$work/running.xml crm_resource --locate --resource flaky --output-as=xml | sed -n 's|.*<node[^>]*>\(node[0-9]*\)</node>.*|\1|p' | head -1)
CIB_file=$work/ban-flaky.xml crm_resource --resource flaky --ban --node "$flakynode" >/dev/null
crm_simulate -x "$work/ban-flaky.xml" -S -O "$out/sim-stop-failed.xml" -F "flaky_stop_0@$flakynode=1" >/dev/null

# sim-demote-failed: the promoted instance's monitor reports failed
# promoted (9); the recovery's demote then fails too (rc 1).
crm_simulate -x "$work/running.xml" -S -O "$out/sim-demote-failed.xml" -i state_monitor_10000@node1=9 -F state_demote_0@node1=1 >/dev/null

# What crm_mon computes from each of these CIBs (offline, CIB_file): the
# scheduler's own reading of the same histories, which the tests compare
# State with.
mkdir -p "$out/crm_mon"
for f in "$out"/*.xml; do
	CIB_file=$f crm_mon --one-shot --inactive --output-as=xml >"$out/crm_mon/$(basename "$f")" || true
done

echo "recorded into $out" >&2
