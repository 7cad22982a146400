#!/bin/bash
# record-offline.sh re-records the offline fixtures under crmwrap/testdata
# (crm_mon and whole CIBs under crmwrap/crmmon/testdata and crmwrap/cib/testdata)
# with Pacemaker's own tools and no running cluster:
#   1. build a configuration in a CIB file with cibadmin and crm_attribute;
#   2. let crm_simulate compute and "execute" transitions against it, with
#      injected node and operation events, saving the resulting CIB;
#   3. run crm_mon, crm_resource and crm_attribute on those CIB files
#      (CIB_file=...) to capture what they print.
# The outputs are real Pacemaker output, but no fencer runs, so crm_mon
# shows no fence history; those fixtures come from the lab.
#
# Usage: testdata/record-offline.sh (from crmwrap/), then
#        go test ./crmwrap/... -update to regenerate the golden files.
set -euo pipefail

cd "$(dirname "$0")"
td=$PWD
# crm_mon and whole-CIB fixtures live beside their parsers.
mondir=$td/../crmmon/testdata
cibdir=$td/../cib/testdata
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$mondir" "$cibdir/status" "$td/crm_resource" "$td/crm_attribute" "$td/crm_node" "$td/cibadmin"

# Fixed clock, so that crm_simulate writes the same timestamps every time.
now=2025-03-14T09:26:53Z

# cib FILE ARGS...: run cibadmin on a CIB file.
cib() { local f=$1; shift; CIB_file=$f cibadmin "$@"; }
# sim IN OUT ARGS...: run one simulated transition and save the result.
sim() { local in=$1 out=$2; shift 2; crm_simulate -x "$in" -t "$now" -S -O "$out" "$@" >/dev/null; }
# mon CIB CASE [ARGS...]: record crm_mon's XML for CIB as crm_mon/CASE.xml,
# with the same arguments as Client.Status. crm_mon exits non-zero in some
# states; the XML is what we want either way.
mon() {
	local f=$1 case=$2; shift 2
	CIB_file=$f crm_mon --one-shot --inactive --output-as=xml "$@" >"$mondir/$case.xml" || true
}
# keep CIB CASE: keep a CIB as cib/CASE.xml.
keep() { cp "$1" "$cibdir/$2.xml"; }

cfg=$work/cfg.xml
cibadmin --empty >"$cfg"
# Attributes the controller writes on a live cluster; set here so that
# crm_mon's summary (stack, DC version, last change) is filled in.
cib "$cfg" --modify --xml-text '<cib cib-last-written="Fri Mar 14 09:26:53 2025" update-origin="node1" update-client="cibadmin" update-user="root"/>'
CIB_file=$cfg crm_attribute -t crm_config -n cluster-infrastructure -v corosync
CIB_file=$cfg crm_attribute -t crm_config -n dc-version -v 2.1.5-a3f44794f94
CIB_file=$cfg crm_attribute -t crm_config -n cluster-name -v vnfha-fixture
CIB_file=$cfg crm_attribute -t crm_config -n stonith-enabled -v true
cib "$cfg" --create -o configuration --xml-text '<rsc_defaults><meta_attributes id="rsc-defaults-meta"><nvpair id="rsc-defaults-meta-migration-threshold" name="migration-threshold" value="3"/></meta_attributes></rsc_defaults>'
for i in 1 2 3; do
	cib "$cfg" --create -o nodes --xml-text "<node id=\"$i\" uname=\"node$i\"/>"
done
CIB_file=$cfg crm_attribute -N node2 -n site -v dc-east -l forever
cib "$cfg" --create -o resources --xml-text '<primitive id="fence-all" class="stonith" type="fence_watchdog">
  <instance_attributes id="fence-all-ia"><nvpair id="fence-all-ia-hosts" name="pcmk_host_list" value="node1 node2 node3"/></instance_attributes>
  <operations><op id="fence-all-monitor-60s" name="monitor" interval="60s"/></operations></primitive>'
cib "$cfg" --create -o resources --xml-text '<primitive id="vip" class="ocf" provider="pacemaker" type="Dummy">
  <instance_attributes id="vip-ia"><nvpair id="vip-ia-state" name="state" value="/run/vip.state"/></instance_attributes>
  <operations><op id="vip-monitor-10s" name="monitor" interval="10s" timeout="20s"/></operations></primitive>'
cib "$cfg" --create -o resources --xml-text '<group id="grp">
  <primitive id="grp-a" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="grp-a-monitor-10s" name="monitor" interval="10s"/></operations></primitive>
  <primitive id="grp-b" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="grp-b-monitor-10s" name="monitor" interval="10s"/></operations></primitive></group>'
cib "$cfg" --create -o resources --xml-text '<clone id="web-clone">
  <meta_attributes id="web-clone-meta"><nvpair id="web-clone-meta-interleave" name="interleave" value="true"/></meta_attributes>
  <primitive id="web" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="web-monitor-10s" name="monitor" interval="10s"/></operations></primitive></clone>'
cib "$cfg" --create -o resources --xml-text '<clone id="state-clone">
  <meta_attributes id="state-clone-meta"><nvpair id="state-clone-meta-promotable" name="promotable" value="true"/><nvpair id="state-clone-meta-promoted-max" name="promoted-max" value="1"/></meta_attributes>
  <primitive id="state" class="ocf" provider="pacemaker" type="Stateful">
    <operations><op id="state-monitor-10s" name="monitor" interval="10s" role="Promoted"/><op id="state-monitor-11s" name="monitor" interval="11s" role="Unpromoted"/></operations></primitive></clone>'
cib "$cfg" --create -o constraints --xml-text '<rsc_colocation id="vip-with-promoted-state" rsc="vip" with-rsc="state-clone" with-rsc-role="Promoted" score="INFINITY"/>'
cib "$cfg" --create -o constraints --xml-text '<rsc_order id="promote-state-then-vip" first="state-clone" first-action="promote" then="vip" then-action="start"/>'
cib "$cfg" --create -o constraints --xml-text '<rsc_location id="grp-prefers-node3" rsc="grp" node="node3" score="50"/>'
cib "$cfg" --create -o configuration --xml-text '<alerts><alert id="vnfha-alert" path="/usr/lib/vnfha/alert"><meta_attributes id="vnfha-alert-meta"><nvpair id="vnfha-alert-meta-timeout" name="timeout" value="10s"/></meta_attributes><recipient id="vnfha-alert-recipient" value="/run/vnfha/alert.sock"/></alert></alerts>'

# no-dc: configured, nothing has joined yet.
keep "$cfg" no-dc
mon "$cfg" no-dc
# From here on node1 is the DC, as the controller would record it.
cib "$cfg" --modify --xml-text '<cib dc-uuid="1"/>'

# started: the three nodes join with quorum and everything starts; no
# promotion score yet, so every state instance stays Unpromoted.
sim "$cfg" "$work/started.xml" -u node1 -u node2 -u node3 -q 1
keep "$work/started.xml" started
mon "$work/started.xml" started

# promotable-running: Stateful publishes promotion scores (as its monitor
# would, through crm_attribute --promotion); node1 wins.
cp "$work/started.xml" "$work/scored.xml"
CIB_file=$work/scored.xml crm_attribute --promotion=state -N node1 -v 10
CIB_file=$work/scored.xml crm_attribute --promotion=state -N node2 -v 5
CIB_file=$work/scored.xml crm_attribute --promotion=state -N node3 -v 5
sim "$work/scored.xml" "$work/running.xml"
keep "$work/running.xml" promotable-running
mon "$work/running.xml" promotable-running
mon "$work/running.xml" group-by-node --group-by-node
run=$work/running.xml

# failed-monitor: vip's monitor on node1 reports "not running" (7); the
# cluster records the failure and restarts vip.
sim "$run" "$work/failed-monitor.xml" -i vip_monitor_10000@node1=7
keep "$work/failed-monitor.xml" failed-monitor
mon "$work/failed-monitor.xml" failed-monitor

# failed-promoted: the promoted instance reports "failed promoted" (9).
sim "$run" "$work/failed-promoted.xml" -i state_monitor_10000@node1=9
keep "$work/failed-promoted.xml" failed-promoted
mon "$work/failed-promoted.xml" failed-promoted

# failed-start: web fails to start on node2 (rc 1), so its fail count goes
# to INFINITY there; state of the cluster before the recovery transition.
sim "$cfg" "$work/failed-start.xml" -u node1 -u node2 -u node3 -q 1 -F web_start_0@node2=1
keep "$work/failed-start.xml" failed-start
mon "$work/failed-start.xml" failed-start

# failed-start-reason: the same failure with an exit reason holding XML's
# special characters, as an agent writes them (quotes around a value).
# crm_simulate cannot inject a reason, so it is set in the saved CIB.
sed 's|exit-reason="User-injected result"|exit-reason="network_namespace \&quot;/etc\&quot; is not a network namespace \&amp; \&lt;x\&gt;"|' \
	"$work/failed-start.xml" >"$work/failed-start-reason.xml"
keep "$work/failed-start-reason.xml" failed-start-reason
mon "$work/failed-start-reason.xml" failed-start-reason

# node-unclean: node1 (the DC, holding the promoted instance) leaves the
# membership without a clean shutdown; saved before fencing happens.
crm_simulate -x "$run" -t "$now" -R -f node1 -I "$work/unclean.xml" >/dev/null
keep "$work/unclean.xml" node-unclean
mon "$work/unclean.xml" node-unclean

# promotable-failover: the same failure carried through: node1 is fenced,
# node2 is promoted and vip follows it.
sim "$run" "$work/failover.xml" -f node1
cib "$work/failover.xml" --modify --xml-text '<cib dc-uuid="2"/>'
keep "$work/failover.xml" promotable-failover
mon "$work/failover.xml" promotable-failover

# node-offline: node3 shuts down cleanly.
sim "$run" "$work/offline.xml" -d node3
keep "$work/offline.xml" node-offline
mon "$work/offline.xml" node-offline

# standby-maintenance: node2 in standby, node3 in maintenance, vip
# unmanaged.
cp "$run" "$work/standby-in.xml"
CIB_file=$work/standby-in.xml crm_attribute -N node2 -n standby -v on -l forever
CIB_file=$work/standby-in.xml crm_attribute -N node3 -n maintenance -v on -l forever
CIB_file=$work/standby-in.xml crm_resource -r vip --meta -p is-managed -v false >/dev/null
sim "$work/standby-in.xml" "$work/standby.xml"
keep "$work/standby.xml" standby-maintenance
mon "$work/standby.xml" standby-maintenance

# ban-group: crm_resource --ban moves grp away from node3 with a cli-ban
# constraint.
cp "$run" "$work/ban-in.xml"
CIB_file=$work/ban-in.xml crm_resource --ban -r grp -N node3 >/dev/null 2>&1
sim "$work/ban-in.xml" "$work/ban.xml"
keep "$work/ban.xml" ban-group
mon "$work/ban.xml" ban-group

# no-quorum: the partition loses quorum; no-quorum-policy=stop stops all.
# crm_simulate 2.1.5 ignores --quorum=0 here, so the DC's have-quorum flag
# is cleared directly.
cp "$run" "$work/no-quorum-in.xml"
cib "$work/no-quorum-in.xml" --modify --xml-text '<cib have-quorum="0"/>'
sim "$work/no-quorum-in.xml" "$work/no-quorum.xml"
keep "$work/no-quorum.xml" no-quorum
mon "$work/no-quorum.xml" no-quorum

# orphaned-resource: grp-b is deleted from the configuration while its
# history is still in the status section.
cp "$run" "$work/orphan.xml"
cib "$work/orphan.xml" --delete --xml-text '<primitive id="grp-b"/>'
mon "$work/orphan.xml" orphaned-resource

# crm_resource --locate, with the arguments Client.Locate uses, on a
# promotable clone, a group, a primitive, a stopped primitive (no quorum)
# and an unknown resource.
for r in state-clone grp vip; do
	CIB_file=$run crm_resource --locate --resource "$r" --output-as=xml >"$td/crm_resource/locate-$r.xml" || true
done
CIB_file=$work/no-quorum.xml crm_resource --locate --resource vip --output-as=xml >"$td/crm_resource/locate-stopped.xml" || true
CIB_file=$run crm_resource --locate --resource nosuch --output-as=xml >"$td/crm_resource/locate-nosuch.xml" || true

# crm_attribute -G: a promotion score, a permanent node attribute, a cluster
# property, and a missing attribute (exit 105 with an XML result).
CIB_file=$run crm_attribute --promotion=state -N node1 -G --output-as=xml >"$td/crm_attribute/promotion-query.xml"
CIB_file=$run crm_attribute -N node2 -n site -l forever -G --output-as=xml >"$td/crm_attribute/node-query.xml"
CIB_file=$run crm_attribute -t crm_config -n cluster-name -G --output-as=xml >"$td/crm_attribute/property-query.xml"
CIB_file=$run crm_attribute -N node3 -n nosuch -l reboot -G --output-as=xml >"$td/crm_attribute/missing-query.xml" || true

# crm_attribute changes print only a result: OK, or 105 for an unknown node.
CIB_file=$work/scored.xml crm_attribute --promotion=state --node node1 --lifetime reboot --update 20 --output-as=xml >"$td/crm_attribute/promotion-update.xml"
CIB_file=$work/scored.xml crm_attribute --node nonode --name site --lifetime forever --update x --output-as=xml >"$td/crm_attribute/unknown-node-update.xml" || true

# crm_resource --validate runs the agent's validate-all on this host: an
# accepted configuration, one the agent rejects (IPaddr2 without ip), and an
# unknown agent.
CIB_file=$run crm_resource --validate --class ocf --provider pacemaker --agent Dummy --option fake=x --output-as=xml >"$td/crm_resource/validate-ok.xml"
CIB_file=$run crm_resource --validate --class ocf --provider heartbeat --agent IPaddr2 --option cidr_netmask=24 --output-as=xml >"$td/crm_resource/validate-not-configured.xml" || true
CIB_file=$run crm_resource --validate --class ocf --provider pacemaker --agent NoSuch --output-as=xml >"$td/crm_resource/validate-unknown-agent.xml" || true

# crm_node -n answers from OCF_RESKEY_CRM_meta_on_node when set (as inside
# a resource agent) without asking the controller.
OCF_RESKEY_CRM_meta_on_node=node2 crm_node -n >"$td/crm_node/name.txt"

# cibadmin --query by scope and by XPath.
CIB_file=$run cibadmin --query --scope nodes >"$td/cibadmin/query-nodes.xml"
CIB_file=$run cibadmin --query --xpath "//primitive[@id='vip']" >"$td/cibadmin/query-xpath-vip.xml"
CIB_file=$run cibadmin --query --xpath "//primitive[@id='state']|//primitive[@id='vip']" >"$td/cibadmin/query-xpath-two.xml"
# No match: exit 105 (CRM_EX_NOSUCH) and a message on stderr.
CIB_file=$run cibadmin --query --xpath "//primitive[@id='nosuch']" 2>"$td/cibadmin/query-xpath-nosuch.stderr" || true

# With no cluster running on this host (no CIB_file), the tools fail with
# 102 "Not connected" and still print an XML result. Only recorded when that
# is really the case here.
if ! crm_mon --one-shot --inactive --output-as=xml >"$work/not-running.xml"; then
	cp "$work/not-running.xml" "$mondir/not-running.xml"
	crm_attribute -N node1 -n site -G --output-as=xml >"$td/crm_attribute/not-running.xml" || true
	crm_resource --locate -r vip --output-as=xml >"$td/crm_resource/locate-not-running.xml" || true
	cibadmin --query --scope nodes 2>"$td/cibadmin/not-running.stderr" || true
else
	echo "a cluster is running here; kept the old not-running fixtures" >&2
fi

echo "recorded into $td"
