package checkpoint

// notes is the Markdown of the reference page's "Notes" (ocf.Agent.Notes).
// The numbers in it are the code's constants: a test keeps them in step.
const notes = `### Setting it up

    pcs resource create ckpt ocf:vnfha:checkpoint data_dir=/var/lib/vnfha/checkpoint/ckpt promotable notify=true
    # the VNFC's active instance where the primary is, promoted after it (a promotable VNFC, app-clone):
    pcs constraint colocation add Promoted app-clone with Promoted ckpt-clone INFINITY
    pcs constraint order promote ckpt-clone then promote app-clone
    # or a VNFC that is one primitive, app:
    pcs constraint colocation add app with Promoted ckpt-clone INFINITY
    pcs constraint order promote ckpt-clone then start app

docs/operations.md has the whole set-up, with the VNFC's virtual IP.

Every other parameter has a default that works on a cluster made with pcs:

- **Addresses.** The replica listens for replication on this node's ring0_addr in /etc/corosync/corosync.conf (the node
  found by the name Pacemaker gives it), port repl_port (7420); its peers are the other nodes of that nodelist, at their
  ring0_addr and the same port. A node that is not in the nodelist, or a corosync.conf that does not parse, cannot
  default them: validate-all, start and promote return 2 (OCF_ERR_ARGS) on that node, and the reason says to set
  repl_address and peers. Without a corosync.conf at all the store is one replica listening on every address.
  peers=none makes a store of one replica anywhere.
- **Authentication.** key_file defaults to corosync's /etc/corosync/authkey, which pcs cluster setup copies to every
  node (the same bytes, root-only). The store derives its replication key from it; the file is never read by the agent.
  With tls_cert, tls_key and tls_ca (all three) the link uses mutual TLS instead. A store of one replica needs neither:
  key_file is then passed only if it exists. Such a store also keeps no marks (it is run without --resource: there is
  no other replica to be fresher) and runs as sync_mode=available (there is no standby to wait for).
- **data_dir** is created by start (0700, its missing parents 0755) when it does not exist; a data_dir that exists and
  is not a directory is 6 (OCF_ERR_CONFIGURED). It must be on the node's own disk: the replicas are the copies.
- **The socket** is /run/vnfha/checkpoint/RESOURCE.sock (the resource's name without a clone instance's ":N"), mode
  socket_mode, group socket_group; start creates its directory (0755). VNFCs on the node use it; the control endpoints
  the agent calls are served there only. api_listen adds TCP for VNFCs elsewhere (behind a VIP that follows the Promoted
  role), with a bearer token from api_token_file.

The store is run as BINARY checkpoint serve --data-dir=... --node=... --socket=... --socket-mode=...
--repl-listen=HOST:PORT --peers=NODE=HOST:PORT,... --sync-replicas=... --sync-mode=... --sync-timeout=... --max-value=...,
plus --resource (with peers), --socket-group, --api-listen, --api-token-file, --key-file or --tls-cert, --tls-key and
--tls-ca when they apply: every value as --flag=value, never through a shell.

### The store runs under vnfc's supervisor

Start runs the store the way ocf:vnfha:vnfc runs a VNFC with backend=process (the same code): a supervisor, "vnfha-agent
--helper vnfc supervise INSTANCE" in ps, starts it in a process group of its own, reaps it, and reports an unexpected
exit to Pacemaker at once, through the controller's IPC (crm_resource --fail as the fallback). Start succeeds once the
store answers GET /v1/status on its socket; until then it polls (10ms, doubling to 200ms), and a store that exits or
does not answer within the start timeout fails the start, which stops what it started. Stop sends SIGTERM (the store
closes its database and removes its socket) and SIGKILL after 20s, cut to fit the stop's timeout. The supervisor's
lines go to the node's log as checkpoint(RESOURCE), and to log_file with the store's own output; they speak of "the
VNFC" (pid, exit), which is the store here. Its state is in $HA_RSCTMP/vnfha-checkpoint/INSTANCE/store; the agent's own
files (the promoted marker, the score it last wrote, an outranking) beside it; stop removes them all.

### Promotion scores

The score of each replica is computed by its own start, monitor, promote and demote (crm_attribute --promotion,
lifetime reboot):

| replica | score |
|---|---|
| the primary | 1000 |
| a standby the primary counts in its synchronous set (Status.sync) | 100 |
| a standby that follows no primary, whose node's mark is sync (the primary is gone; it holds every acknowledged write) | 100 |
| a standby connected to the primary, not yet in its synchronous set, whose mark is still sync | 50 |
| any replica of a new store: no node has a mark | 10 |
| a replica whose mark is stale; one without a mark while other nodes have one; a mark that is neither sync nor stale | none (deleted) |
| a replica whose promote found a fresher peer, until its position changes or it follows a primary | 1 |

The mark is the node attribute vnfha-checkpoint-RESOURCE (lifetime forever): the primary writes sync on a standby once
it holds every acknowledged write and gets each new one before it is acknowledged, and stale before it acknowledges a
write the standby does not hold; it marks itself sync when it is promoted. The agent reads the marks (one cibadmin
--query --scope configuration) only when the table needs them: never for the primary or a sync standby. A steady
monitor of those runs no program: it reads the store's status over its socket and asks the node's attribute manager
over its IPC whether the score is there (a restart of Pacemaker on the node erases scores; the monitor restores it).
crm_attribute runs only when the score changes. A score the agent did not write (a peer's promote raised it, see below)
is left alone until this replica's own score changes, except on a replica that must not be promoted, whose score is
always deleted.

Positions are never scores: Pacemaker caps scores at 1000000, and the store compares positions (epoch, then revision)
itself when it promotes.

### Promote

1. The store must run and answer its status; a store that is already the primary is only given its score and marker.
2. The marks are read. A replica whose mark is stale (it may lack acknowledged writes), or that has no mark while
   another node has one (it never held every acknowledged write), or whose mark is neither sync nor stale, is refused:
   promote fails (1) with "may lack acknowledged writes: ...", and its score is deleted.
3. The store is asked to promote (POST /v1/control/promote) with min_epoch, the cluster property
   vnfha-checkpoint-RESOURCE-epoch, the highest epoch any primary of the resource was promoted to: the new epoch is
   above it and above every epoch the store or the peers it reaches have seen. The request names the peers the marks
   make unpromotable (as in step 2), whose positions the store ignores: what such a peer holds beyond this replica was
   never acknowledged (a demoted old primary's last writes), and no score could make it promotable, so letting it
   refuse would leave the cluster without a primary. It also names the peers outside this node's partition
   (crm_node --partition: fenced or cut off), which the store does not ask: a powered-off host swallows the question
   until its 5 s bound, all of it added to the failover. If crm_node fails, takes more than 2 s, or does not name this
   node (a peers parameter naming nodes otherwise than Pacemaker does), every peer is asked.
4. If a promotable peer the store reaches is fresher, the store first takes from it the entries it lacks, when that
   peer's history extends its own (the usual case: the primary died while its standbys stood a batch apart). Only if
   a peer is still fresher after that (histories diverged, entries no longer retained, the peer stopped answering;
   409), promote fails, after it set its own score to 1 and the peer's to 1000 (crm_attribute --promotion --node
   PEER), as PAF does: Pacemaker's next transition promotes the peer. That failure counts in the fail count: with
   migration-threshold=1 it bans the store from this node until a cleanup or failure-timeout. A fresher peer whose
   mark is stale gets no score.
5. The new epoch is written to vnfha-checkpoint-RESOURCE-epoch before promote succeeds: an epoch never recorded could
   be used again by a replica that never met this one. If it cannot be written, promote fails (the recovery demotes the
   store).

Outside a promotable clone (ocf-tester, an operator running promote by hand; Pacemaker never promotes a primitive) there
are no scores and promote goes without the marks and the epoch floor: the store's own check of its peers is all there is.

### Forcing a promotion after a full outage

After every node went down (a site's power), only replicas whose mark is sync can be promoted, and among those the
store of the one Pacemaker picks refuses if a peer it reaches is fresher. If the only replicas left are marked stale
(their nodes lost every replica that held the last acknowledged writes), nothing is promoted: that is the point. An
operator who accepts the loss chooses the node (the freshest: vnfha checkpoint status on each shows its position) and
sets its mark by hand:

    crm_attribute --node NODE --name vnfha-checkpoint-RESOURCE --lifetime forever --update sync
    crm_resource --cleanup --resource RESOURCE-clone

### Monitor

| the store | monitor |
|---|---|
| not running (never started here, or stopped) | 7 |
| exited (how, when, its pid) or a start did not finish | 1; 9 when promoted |
| runs, answers, no problems | 0; 8 as the primary |
| reports problems (a full disk, replication refused, a mark it could not write) | 1; 9 when promoted |
| promoted here, but answers as a standby (demoted: a newer primary exists) | 9 |
| the primary, though no promote finished here (a promote that timed out after the store promoted) | 8, and the marker is set |
| runs but does not answer GET /v1/status within 5s | 190; 191 when promoted |
| runs, but its supervisor is gone | 190; 191 when promoted |

A probe reads the same. A store that does not answer is degraded, not failed: a busy disk may hold it, and a failover
would not help; its supervisor still reports its exit at once.

### Notify

With notify=true, after a promote every other running replica is told the promoted node (POST /v1/control/follow), so
that it connects there at once instead of at its next search of its peers; so is a replica that starts while a
primary runs. A failed nudge is a warning, never a failure: the store finds the primary by itself.

### Demote and stop

Demote asks the store to demote (its unacknowledged writes fail, new ones are refused) and gives the replica the score
its state calls for. A store that does not answer fails demote (1): the stop of the recovery ends it. Stop ends the
store and deletes the score; it leaves the mark, the cluster's record of what this replica holds, which outlives the
process. Neither fails because of the parameters: stop uses only the state directory, demote the socket parameter or
the default socket.

### Two-node clusters

In a two-node cluster (two_node: both halves stay quorate) with sync_mode=available, a primary cut off from its
standby may mark it stale in its own partition's CIB and acknowledge writes before it loses the fencing race; those
writes are lost if the standby's node wins. sync_mode=strict has no such gap: the primary refuses writes without a
synchronous standby.
`
