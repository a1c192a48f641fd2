#!/usr/bin/env bash
# A one-node SLURM cluster for tests (Debian 12, no systemd): start | stop | status
#
#   tests/slurm/cluster.sh start    install slurm-wlm + munge if missing, write the config, start munged,
#                                   slurmctld, slurmd, wait for the node to be idle, smoke-test srun
#   tests/slurm/cluster.sh stop     scancel every job, kill exactly the daemons this script started, remove
#                                   our /etc/slurm config (else every `snakemake` start waits ~10 s on scontrol)
#   tests/slurm/cluster.sh status   exit 0 when the daemons we started are alive and the node answers
#
# Facts behind each step: shared/reference/SLURM-CI.md. The node is `hostname -s`, in two partitions, `cpu`
# (the default) and `gpu`, as profiles/slurm-ci/partitions.yaml describes them for the plugin's partition choice;
# CPUs as slurmd -C detects them, 2 fake GPUs (/dev/fakegpu0..1, gres.conf) so SLURM sets
# CUDA_VISIBLE_DEVICES in GPU jobs, MinJobAge=600 (so `squeue` status polling sees finished jobs),
# no accounting (no slurmdbd).
#
# Exit codes: 0 ok; 2 not root; 3 SLURM cannot be installed here (no apt-get, apt failed); 4 a config exists
# that this script did not write; 1 anything else (a daemon did not come up: see the logs it names).
# State (PIDs of what we started, logs): $GAN_BENCH_SLURM_STATE, default /tmp/gan-bench-slurm.
# Config: /etc/slurm/slurm.conf + gres.conf (the default path every SLURM command reads), marked as ours;
# an existing config without our marker is never overwritten.
set -euo pipefail

STATE=${GAN_BENCH_SLURM_STATE:-/tmp/gan-bench-slurm}
CONF_DIR=/etc/slurm
MARKER="# written by gan-bench tests/slurm/cluster.sh"
N_GPUS=2
NODE=$(hostname -s)

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { local code=$1; shift; log "ERROR: $*"; exit "$code"; }

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
pid_of() { if [[ -s $STATE/$1.pid ]]; then cat "$STATE/$1.pid"; fi; }

wait_for() {  # wait_for SECONDS CMD...: poll CMD every 0.5 s until it succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.5
  done
}

read_pidfile() {  # read_pidfile FILE SECONDS: wait for a daemon's pid file, print its pid
  local f=$1 end=$((SECONDS + $2))
  until [[ -s $f ]] && alive "$(cat "$f")"; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
  cat "$f"
}

ensure_installed() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
     && command -v sbatch >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || die 3 "slurm-wlm/munge are not installed and there is no apt-get to install them"
  log "installing slurm-wlm munge (apt-get)"
  # keep the packages' init scripts from starting daemons we would not own (no systemd here)
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurm-wlm munge; } >"$STATE/apt.log" 2>&1 || rc=$?
  ((made_policy)) && rm -f "$policy"
  ((rc == 0)) || die 3 "apt-get could not install slurm-wlm munge (rc=$rc; see $STATE/apt.log): $(tail -n 3 "$STATE/apt.log" | tr '\n' ' ')"
  command -v slurmctld >/dev/null || die 3 "slurmctld still missing after apt-get install"
}

write_config() {
  if [[ -e $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARKER" "$CONF_DIR/slurm.conf"; then
    die 4 "$CONF_DIR/slurm.conf exists and was not written by this script: refusing to overwrite a real cluster's config"
  fi
  # the node name must resolve (slurmd looks itself up)
  if ! getent hosts "$NODE" >/dev/null; then
    log "adding '127.0.0.1 $NODE' to /etc/hosts"
    echo "127.0.0.1 $NODE" >>/etc/hosts
  fi
  # gres without File= is dropped by slurmd 22.05 (node drains): character devices like /dev/null
  local i
  for ((i = 0; i < N_GPUS; i++)); do
    [[ -c /dev/fakegpu$i ]] || mknod -m 666 "/dev/fakegpu$i" c 1 3
  done
  local cpus mem hw
  # what slurmd itself detects (not `nproc`: it follows OMP_NUM_THREADS, which test setups lower)
  hw=$(slurmd -C 2>/dev/null | head -n 1)
  cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
  [[ -n $cpus ]] || cpus=$(nproc --all)
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  [[ -n $mem ]] || mem=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
  mem=$((mem * 9 / 10))  # above what slurmd -C reports drains the node
  mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd
  cat >"$CONF_DIR/slurm.conf" <<EOF
$MARKER (single test node; safe to delete)
ClusterName=ganbench
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
MinJobAge=600
ReturnToService=2
KillWait=5
MpiDefault=none
GresTypes=gpu
NodeName=$NODE CPUs=$cpus RealMemory=$mem Gres=gpu:$N_GPUS State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
EOF
  cat >"$CONF_DIR/gres.conf" <<EOF
$MARKER
AutoDetect=off
NodeName=$NODE Name=gpu File=/dev/fakegpu[0-$((N_GPUS - 1))]
EOF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running (not started by us: stop will leave it)"
    return
  fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null 2>&1 || true; fi
    [[ -s /etc/munge/munge.key ]] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged </dev/null >>"$STATE/munged.out" 2>&1 \
    || die 1 "munged did not start (see $STATE/munged.out, /var/log/munge/munged.log)"
  local pid
  pid=$(read_pidfile /run/munge/munged.pid 10) || die 1 "munged wrote no pid file"
  echo "$pid" >"$STATE/munged.pid"
  wait_for 10 bash -c 'munge -n | unmunge' || die 1 "munge -n | unmunge fails"
}

node_state() { sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null | head -n 1; }

cmd_start() {
  [[ $(id -u) -eq 0 ]] || die 2 "must run as root (installs packages, writes /etc/slurm, starts daemons)"
  mkdir -p "$STATE"
  if cmd_status >/dev/null 2>&1; then
    log "already running"
    return 0
  fi
  cmd_stop >/dev/null 2>&1 || true  # a half-started earlier cluster
  local t0=$SECONDS
  ensure_installed
  write_config
  # a node drained by an earlier bad config stays drained (saved state): start from empty spool dirs
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*
  rm -f "$STATE"/slurmctld.log "$STATE"/slurmd.log
  start_munge

  slurmctld </dev/null >>"$STATE/slurmctld.out" 2>&1 || die 1 "slurmctld failed to start (see $STATE/slurmctld.log)"
  read_pidfile "$STATE/slurmctld.pid" 15 >/dev/null || die 1 "slurmctld did not come up (see $STATE/slurmctld.log)"
  wait_for 30 bash -c 'scontrol ping | grep -q "is UP"' \
    || die 1 "slurmctld does not answer scontrol ping (see $STATE/slurmctld.log)"

  slurmd </dev/null >>"$STATE/slurmd.out" 2>&1 || die 1 "slurmd failed to start (see $STATE/slurmd.log)"
  read_pidfile "$STATE/slurmd.pid" 15 >/dev/null || die 1 "slurmd did not come up (see $STATE/slurmd.log)"
  local end=$((SECONDS + 60)) st=""
  while :; do
    st=$(node_state)
    [[ $st == idle ]] && break
    if [[ $st == drain* || $st == drng ]]; then
      die 1 "node $NODE is $st: $(scontrol show node "$NODE" | grep -o 'Reason=.*') (see $STATE/slurmd.log)"
    fi
    ((SECONDS < end)) || die 1 "node $NODE not idle after 60 s (state '${st:-none}'; see $STATE/slurmd.log)"
    sleep 0.5
  done

  local host cvd
  host=$(timeout 60 srun -N1 -n1 hostname) || die 1 "smoke test 'srun hostname' failed"
  cvd=$(timeout 60 srun -N1 -n1 -p gpu --gres=gpu:1 printenv CUDA_VISIBLE_DEVICES) \
    || die 1 "smoke test 'srun --gres=gpu:1' failed"
  log "up in $((SECONDS - t0)) s: node $host idle, partitions cpu + gpu, $(sinfo -h -N -n "$NODE" -o %c | head -n 1) CPUs, $(sinfo -h -N -n "$NODE" -o %m | head -n 1) MB, gpu:$N_GPUS (a GPU job saw CUDA_VISIBLE_DEVICES=$cvd)"
}

cmd_stop() {
  mkdir -p "$STATE"
  local ctld
  ctld=$(pid_of slurmctld)
  if alive "$ctld"; then
    local ids
    ids=$(squeue -h -o '%i' 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n ${ids// /} ]]; then
      log "cancelling jobs: $ids"
      # shellcheck disable=SC2086
      scancel $ids 2>/dev/null || true
      # shellcheck disable=SC2016  # expanded by the inner bash
      wait_for 20 bash -c '[[ -z $(squeue -h -t running,pending,completing -o %i) ]]' || true
    fi
  fi
  local name pid i
  for name in slurmd slurmctld munged; do  # munged last: without it slurmd cannot deregister
    pid=$(pid_of "$name")
    if alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 40; i++)); do alive "$pid" || break; sleep 0.25; done
      if alive "$pid"; then
        log "$name ($pid) ignored SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      log "stopped $name ($pid)"
    fi
    rm -f "$STATE/$name.pid"
  done
  # Without a controller, any `scontrol show config` waits ~10 s before failing, and the slurm executor plugin
  # runs it when it is imported, i.e. at EVERY `snakemake` start (local runs too). Without a config it fails at
  # once: so remove ours (start writes it again).
  local f
  for f in "$CONF_DIR/slurm.conf" "$CONF_DIR/gres.conf"; do
    if [[ -f $f ]] && grep -qF "$MARKER" "$f"; then rm -f "$f"; fi
  done
}

cmd_status() {
  local ok=0 name pid
  for name in munged slurmctld slurmd; do
    pid=$(pid_of "$name")
    if alive "$pid"; then
      echo "$name: running (pid $pid)"
    elif [[ $name == munged ]] && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
      echo "munged: running (not ours)"
    else
      echo "$name: not running"; ok=1
    fi
  done
  if ((ok == 0)); then
    local st
    st=$(node_state)
    echo "node $NODE: ${st:-unknown}"
    [[ $st == idle || $st == mix || $st == alloc ]] || ok=1
  fi
  return $ok
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
