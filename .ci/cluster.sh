# Sourced by .ci/run after start_postgres: a single-node SLURM (munge, slurmctld, slurmd on 127.0.0.1)
# and a real MLflow tracking server (PostgreSQL backend, artifacts in a temporary folder) for
# tests/test_cluster.py, which launches a tiny study through `cyclegan launch slurm --submit`.
#
# Each start is called as an `if` condition, where bash ignores `set -e`: every step checks itself.
# When something cannot start, CYCLEGAN_TEST_CLUSTER_SKIP holds the reason and the test is skipped
# with it (pytest -ra prints it), never passed. Everything runs as root, in this sandbox only.

CLUSTER_DIR="" SLURM_CTLD_PID="" SLURMD_PID="" MUNGED_PID="" MLFLOW_PID=""

stop_cluster() {
    local pid
    # Jobs first (this controller's only, through SLURM_CONF): their slurmstepd would outlive slurmd.
    if [ -n "$SLURM_CTLD_PID" ]; then timeout 10 scancel --full --user="$(id -un)" >/dev/null 2>&1 || true; sleep 1; fi
    for pid in "$MLFLOW_PID" "$SLURMD_PID" "$SLURM_CTLD_PID" "$MUNGED_PID"; do
        if [ -n "$pid" ]; then kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; fi
    done
    # The MLflow server's job consumer takes several seconds to end: wait for it (and the rest), then kill.
    for pid in "$MLFLOW_PID" "$SLURMD_PID" "$SLURM_CTLD_PID" "$MUNGED_PID"; do
        if [ -n "$pid" ] && ! wait_for 20 bash -c "! kill -0 -- -$pid && ! kill -0 $pid"; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "$CLUSTER_DIR" ]; then rm -rf "$CLUSTER_DIR"; fi
}

stop_all() {  # the one EXIT trap: the cluster first, then the database it used
    stop_cluster
    stop_postgres
}

cluster_skip() {
    export CYCLEGAN_TEST_CLUSTER_SKIP="$1"
    echo "cluster test skipped: $1"
    return 1
}

wait_for() {  # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt "$deadline" ] || return 1
        sleep 1
    done
}

start_slurm() {
    [ "$(id -u)" = 0 ] || cluster_skip "SLURM's daemons need root here" || return 1
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
        command -v apt-get >/dev/null || cluster_skip "no slurmctld/slurmd/munged and no apt-get" || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                 slurmctld slurmd slurm-client munge >/dev/null; } \
            || cluster_skip "apt-get could not install slurmctld, slurmd, slurm-client, munge" || return 1
    fi
    CLUSTER_DIR=$(mktemp -d /tmp/cyclegan-ci-cluster.XXXXXX) || return 1
    chmod 755 "$CLUSTER_DIR"
    trap stop_all EXIT
    local d=$CLUSTER_DIR port=${CYCLEGAN_CI_SLURM_PORT:-16817}
    # munge: its own key and socket here, so a machine's own munged (if any) is left alone.
    mkdir -p "$d/munge" "$d/munge-key" "$d/state" "$d/spool" && chmod 755 "$d/munge" && chmod 700 "$d/munge-key" || return 1
    mungekey --create --keyfile="$d/munge-key/munge.key" && chown -R munge: "$d/munge" "$d/munge-key" \
        || cluster_skip "could not make a munge key" || return 1
    runuser -u munge -- munged --socket="$d/munge/munge.socket" --key-file="$d/munge-key/munge.key" \
        --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" --seed-file="$d/munge/munged.seed" \
        || cluster_skip "munged did not start: $(tail -n 2 "$d/munge/munged.log" 2>/dev/null)" || return 1
    MUNGED_PID=$(cat "$d/munge/munged.pid")
    munge -S "$d/munge/munge.socket" -n | unmunge -S "$d/munge/munge.socket" >/dev/null \
        || cluster_skip "munge does not answer" || return 1
    # One node, 2 CPUs, no cgroups (proctrack/linuxproc, task/none), no accounting, no GPU.
    cat >"$d/slurm.conf" <<EOF || return 1
ClusterName=cyclegan-ci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=ci-node NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=2 State=UNKNOWN
PartitionName=ci Nodes=ci-node Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$d/slurm.conf"
    slurmctld -i || cluster_skip "slurmctld did not start: $(tail -n 2 "$d/slurmctld.log" 2>/dev/null)" || return 1
    wait_for 10 test -s "$d/slurmctld.pid" && SLURM_CTLD_PID=$(cat "$d/slurmctld.pid")
    slurmd -N ci-node || cluster_skip "slurmd did not start: $(tail -n 2 "$d/slurmd.log" 2>/dev/null)" || return 1
    wait_for 10 test -s "$d/slurmd.pid" && SLURMD_PID=$(cat "$d/slurmd.pid")
    wait_for 30 sh -c 'sinfo -h -N -o %T | grep -qx idle' \
        || cluster_skip "the SLURM node never became idle: $(tail -n 2 "$d/slurmctld.log" 2>/dev/null)" || return 1
    export CYCLEGAN_TEST_SLURM_CONF="$SLURM_CONF"
}

start_mlflow_server() {
    [ -n "${CYCLEGAN_TEST_POSTGRES_URL:-}" ] || cluster_skip "no PostgreSQL for the MLflow server's backend store" || return 1
    [ -x .venv/bin/mlflow ] || cluster_skip "no .venv/bin/mlflow (make install failed?)" || return 1
    local port=${CYCLEGAN_CI_MLFLOW_PORT:-15099} pg_port=${CYCLEGAN_CI_PG_PORT:-54329} pg_bin
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres cyclegan_ci_mlflow \
        || cluster_skip "could not create the MLflow database" || return 1
    mkdir -p "$CLUSTER_DIR/mlartifacts" || return 1
    # The backend URI in the environment, not on the command line (a habit: this one has no password).
    # No server-side job runners (eight more processes a tracking server for studies never uses; docs/storage.md).
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    MLFLOW_BACKEND_STORE_URI="postgresql+psycopg://postgres@127.0.0.1:$pg_port/cyclegan_ci_mlflow" \
        setsid .venv/bin/mlflow server --host 127.0.0.1 --port "$port" --workers 1 \
        --artifacts-destination "$CLUSTER_DIR/mlartifacts" >"$CLUSTER_DIR/mlflow.log" 2>&1 &
    MLFLOW_PID=$!  # its own process group (setsid): stopping it stops its uvicorn workers too
    # An API call, not /health: the first one opens the database (seconds), and must not be a worker's.
    wait_for 180 .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/api/2.0/mlflow/experiments/search?max_results=1', timeout=10)" \
        || cluster_skip "the MLflow server did not answer in 180 s: $(tail -n 3 "$CLUSTER_DIR/mlflow.log")" || return 1
    export CYCLEGAN_TEST_MLFLOW_URI="http://127.0.0.1:$port"
}
