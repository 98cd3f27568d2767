#!/bin/bash
# Matomo MultiScale tenant image entrypoint: one image, the role picked by MATOMO_ROLE.
#
# Never add `set -x` or echo variables here: the environment (install job) and the mounted
# config.ini.php carry the database password, the salt and the first superuser's password.
set -euo pipefail

readonly MATOMO_DIR=/var/www/html
readonly CONFIG_DIR="$MATOMO_DIR/config"
readonly HELPER=/usr/local/lib/matomo-multiscale/config-helper.php
# Private writable copy of config.ini.php for the install and update jobs (see bootstrap.php).
readonly WORK_DIR=/tmp/matomo-config
readonly WORK_CONFIG="$WORK_DIR/config.ini.php"
readonly ROLES="web tracker archiver scheduled-tasks install update settings queue-worker queue-drain"

ROLE="${MATOMO_ROLE:-}"
CHILD=
STOPPING=0

log() { printf 'matomo %s: %s\n' "${ROLE:-entrypoint}" "$*" >&2; }
die() { log "error: $1"; exit "${2:-1}"; }

require_env() {
    local name
    for name in "$@"; do
        [[ -n "${!name:-}" ]] || die "$name must be set for the $ROLE role"
    done
}

require_config() {
    local file
    for file in "$CONFIG_DIR/common.config.ini.php" "$CONFIG_DIR/config.ini.php"; do
        [[ -r "$file" ]] || die "$file is not mounted or not readable"
    done
}

console() {
    php "$MATOMO_DIR/console" --no-interaction --matomo-domain="$MATOMO_URL" "$@"
}

# Waits for a background child. A trapped signal interrupts `wait`, so wait again until the child has
# really exited, then return its status: no role abandons work half-done because of SIGTERM.
wait_child() {
    local pid=$1 status
    while :; do
        wait "$pid" && status=0 || status=$?
        kill -0 "$pid" 2>/dev/null || return "$status"
    done
}

# Debian's Apache in the foreground, as the image's user (uid 33). Debian's /etc/apache2/envvars is
# not read: it would move the mutexes to /var/lock, which is read-only here. The image's environment
# carries every APACHE_* value apache2.conf uses (run, pid and lock files in /var/run/apache2, logs
# linked to stdout/stderr). A pid file left by a killed container would stop Apache from starting.
apache() {
    rm -f "$APACHE_PID_FILE"
    exec apache2 -DFOREGROUND "$@"
}

# web and tracker: Apache with mod_php as a child. On SIGTERM, keep serving a few seconds while
# Kubernetes takes the pod out of its endpoints, then stop gracefully (SIGWINCH), letting requests in
# flight finish: a tracking hit accepted is a tracking hit answered.
serve() {
    apache "$@" &
    CHILD=$!
    trap graceful_stop TERM INT
    local status
    wait_child "$CHILD" && status=0 || status=$?
    exit "$status"
}

graceful_stop() {
    # Apache ends its own graceful stop by sending SIGTERM to its whole process group, this shell
    # included: act on the first signal only.
    ((STOPPING == 0)) || return 0
    STOPPING=1
    log "stopping: serving ${MATOMO_SHUTDOWN_DELAY:-5}s more, then a graceful stop"
    sleep "${MATOMO_SHUTDOWN_DELAY:-5}"
    kill -WINCH "$CHILD" 2>/dev/null || true
}

# archiver and scheduled-tasks: PHP runs as a child rather than replacing this shell, so that PID 1
# stays a process that reaps orphans (core:archive starts its workers in the background) and passes
# SIGTERM on; the job's exit status is PHP's.
run_job() {
    "$@" &
    CHILD=$!
    trap 'kill -TERM "$CHILD" 2>/dev/null || true' TERM INT
    local status
    wait_child "$CHILD" && status=0 || status=$?
    exit "$status"
}

# The install and update jobs run Matomo code that saves config.ini.php; the mounted one is read-only.
# Matomo gets a private copy instead (bootstrap.php); whatever it writes there is dropped when the job
# ends, and reported by key name so that the platform can render it into the tenant's config.
use_work_config() {
    rm -rf "$WORK_DIR"
    (umask 077 && mkdir -p "$WORK_DIR")
    trap 'rm -rf "$WORK_DIR"' EXIT
    php "$HELPER" work-config "$1" "$WORK_CONFIG" || die "cannot prepare the job's working config"
    export MMS_CONFIG_INI_PATH="$WORK_CONFIG"
}

report_drift() {
    local key
    while IFS= read -r key; do
        log "config drift: $key (Matomo set it in this job's copy only; the tenant config must carry it)"
    done < <(php "$HELPER" drift "$WORK_CONFIG" || log "warning: could not compare the job's config")
}

# A schema change cut short can leave a tenant's database between two versions: the install and
# update jobs finish what they started, and only SIGKILL (the end of the grace period) stops them.
ignore_sigterm() {
    trap 'log "SIGTERM ignored: the running database step must finish"' TERM INT
}

install_state() {
    php "$HELPER" state || die "cannot read the installation state from the database"
}

# ExtraTools' matomo:install, with its settings in the environment: it takes database settings and the
# first user from MATOMO_DB_* / MATOMO_FIRST_USER_* (so no password is on a command line), and an empty
# variable would overwrite the config with an empty value, so all are set from the mounted config.
# --do-not-drop-db: without it, matomo:install drops and recreates the whole database.
# --force: without it, it asks for confirmation, and --no-interaction answers "no".
# --silent: without it, it prints the superuser's password when it is done.
matomo_install() {
    local settings line
    settings=$(php "$HELPER" db-env) || return 1
    while IFS= read -r line; do
        export "${line?}"
    done <<<"$settings"
    export MATOMO_FIRST_USER_NAME="$MATOMO_ADMIN_USER" \
           MATOMO_FIRST_USER_EMAIL="$MATOMO_ADMIN_EMAIL" \
           MATOMO_FIRST_USER_PASSWORD="$MATOMO_ADMIN_PASSWORD"
    console --ignore-warn matomo:install --force --do-not-drop-db --silent
}

# The tenant's settings that Matomo keeps in its database (spec.privacy: IP anonymisation, Do Not Track),
# as one upsert the operator renders into MMS_SETTINGS_SQL. Idempotent; run after every schema step.
apply_settings() {
    [[ -n "${MMS_SETTINGS_SQL:-}" ]] || return 0
    log "applying the tenant's privacy settings"
    php "$HELPER" apply-settings || die "applying the privacy settings failed"
}

# The platform's own Reporting API token (the tenant Secret's api-token), for its probes and reports.
ensure_token() {
    if [[ -z "${MMS_API_TOKEN:-}" ]]; then
        log "warning: MMS_API_TOKEN is not set; the platform's API token is not registered"
        return 0
    fi
    php "$HELPER" ensure-token
}

role_install() {
    require_config
    require_env MATOMO_URL MATOMO_ADMIN_USER MATOMO_ADMIN_PASSWORD MATOMO_ADMIN_EMAIL \
        MATOMO_FIRST_SITE_NAME MATOMO_FIRST_SITE_URL
    local state
    state=$(install_state)
    case "$state" in
        complete)
            # A database brought in from elsewhere (mms migrate import, a restore) may be at an older
            # schema and lack the platform's plugins: bring it to this image's version. Both commands
            # are idempotent, so on a database installed here this changes nothing.
            log "Matomo is already installed; activating the platform's plugins and updating the schema to $(matomo_version)"
            use_work_config install
            ignore_sigterm
            console --ignore-warn plugin:activate ExtraTools QueuedTracking || die "plugin:activate failed" $?
            console --ignore-warn core:update --yes || die "core:update failed" $?
            console --ignore-warn scheduled-tasks:run || die "installing the activated plugins failed" $?
            php "$HELPER" verify ExtraTools QueuedTracking || die "the installation is incomplete"
            ensure_token || die "registering the platform's API token failed"
            apply_settings
            report_drift
            log "installed (existing database)"
            exit 0 ;;
        absent) log "installing Matomo $(matomo_version)" ;;
        incomplete) log "resuming an installation that stopped before its first website existed" ;;
        *) die "unexpected installation state: $state" ;;
    esac
    use_work_config install
    ignore_sigterm

    log "creating the schema and the superuser (ExtraTools matomo:install)"
    # A subshell keeps the exported secrets out of every other command's environment.
    (matomo_install) || die "matomo:install failed" $?

    log "activating ExtraTools and QueuedTracking"
    console --ignore-warn plugin:activate ExtraTools QueuedTracking || die "plugin:activate failed" $?

    # Matomo installs the plugins its config activates (their tables and version rows) during its
    # front controller's start-up, which refuses to start while a component awaits its database
    # update; scheduled-tasks:run is the console command that goes through that start-up.
    log "installing the activated plugins"
    console --ignore-warn core:update --yes || die "core:update failed" $?
    console --ignore-warn scheduled-tasks:run || die "installing the activated plugins failed" $?

    state=$(install_state)
    if [[ "$state" == incomplete ]]; then
        log "adding the first website"
        console --ignore-warn site:add --name="$MATOMO_FIRST_SITE_NAME" --urls="$MATOMO_FIRST_SITE_URL" \
            || die "site:add failed" $?
    fi

    php "$HELPER" verify ExtraTools QueuedTracking || die "the installation is incomplete"
    ensure_token || die "registering the platform's API token failed"
    apply_settings
    report_drift
    log "installed"
}

role_update() {
    require_config
    require_env MATOMO_URL
    local state
    state=$(install_state)
    [[ "$state" != absent ]] || die "Matomo is not installed in this database; run the install job first"
    use_work_config update
    ignore_sigterm
    log "updating the database schema to Matomo $(matomo_version) (core:update)"
    local status
    console core:update --yes && status=0 || status=$?
    # The update's job is the schema: a failed settings write only warns (the spec change that started
    # the upgrade has its own settings Job, which retries).
    if ((status == 0)) && [[ -n "${MMS_API_TOKEN:-}" ]]; then
        php "$HELPER" ensure-token || log "warning: the platform's API token was not registered"
    fi
    if ((status == 0)) && [[ -n "${MMS_SETTINGS_SQL:-}" ]]; then
        php "$HELPER" apply-settings || log "warning: the privacy settings were not applied; the settings Job retries them"
    fi
    report_drift
    exit "$status"
}

# A spec change after the install: the settings Job of that generation. It may start while the install
# Job still runs, so it waits (MATOMO_SETTINGS_WAIT seconds at most) for a complete installation.
role_settings() {
    require_config
    require_env MMS_SETTINGS_SQL
    local waited=0 limit=${MATOMO_SETTINGS_WAIT:-3600}
    until [[ "$(install_state)" == complete ]]; do
        ((waited < limit)) || die "Matomo is still not installed after ${limit}s"
        ((waited > 0)) || log "waiting for the install Job to finish"
        sleep 10
        waited=$((waited + 10))
    done
    apply_settings
    log "settings applied"
}

# One pass of QueuedTracking's queuedtracking:process at a time, until SIGTERM. A pass that has
# started always finishes (its requests are already out of the queue), so give the pod a
# terminationGracePeriodSeconds longer than the slowest batch.
role_queue_worker() {
    require_config
    require_env MATOMO_URL
    local interval=${MATOMO_QUEUE_INTERVAL:-1} max_failures=${MATOMO_QUEUE_MAX_FAILURES:-5}
    local stop=0 failures=0 status
    local -a args=()
    [[ -z "${MATOMO_QUEUE_ID:-}" ]] || args+=("--queue-id=$MATOMO_QUEUE_ID")
    trap 'stop=1; log "stop requested; finishing the current pass"' TERM INT
    log "processing the tracking queue every ${interval}s"
    local out="$WORK_DIR/pass.log"
    mkdir -p "$WORK_DIR"
    while ((stop == 0)); do
        console queuedtracking:process "${args[@]}" >"$out" 2>&1 &
        wait_child $! && status=0 || status=$?
        cat "$out"
        # A pass takes whole batches only (numRequestsToProcess): when it took none, a forced pass works off
        # the last few requests too, so that no hit waits for more traffic.
        if ((status == 0)) && grep -q "(0 requests in " "$out"; then
            console queuedtracking:process "${args[@]}" --force-num-requests-process-at-once=1 >"$out" 2>&1 &
            wait_child $! && status=0 || status=$?
            grep -q "(0 requests in " "$out" || cat "$out"
        fi
        if ((status == 0)); then
            failures=0
        else
            failures=$((failures + 1))
            log "queuedtracking:process exited with status $status ($failures in a row)"
            ((failures < max_failures)) || die "giving up after $failures failed passes" "$status"
        fi
        ((stop == 0)) || break
        sleep "$interval" &
        wait_child $! || true
    done
    log "stopped"
}

# Before an archiver run made to rebuild reports (`mms tenant archive --dates`, or after `mms migrate
# import`): mark the reports of MATOMO_INVALIDATE_DATES (space-separated dates YYYY-MM-DD or ranges
# FROM,TO) as outdated for MATOMO_INVALIDATE_SITES (default: every site), so that core:archive builds
# them from the raw data.
invalidate_reports() {
    [[ -n "${MATOMO_INVALIDATE_DATES:-}" ]] || return 0
    local item sites=${MATOMO_INVALIDATE_SITES:-all}
    local -a args=()
    for item in $MATOMO_INVALIDATE_DATES; do
        [[ "$item" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}(,[0-9]{4}-[0-9]{2}-[0-9]{2})?$ ]] \
            || die "MATOMO_INVALIDATE_DATES holds '$item'; expected dates YYYY-MM-DD or ranges FROM,TO" 2
        args+=("--dates=$item")
    done
    [[ "$sites" =~ ^(all|[0-9]+(,[0-9]+)*)$ ]] || die "MATOMO_INVALIDATE_SITES must be all or site ids such as 1,2,3" 2
    log "invalidating the reports of ${#args[@]} date(s) or range(s) (sites: $sites) so that this run rebuilds them"
    console --ignore-warn core:invalidate-report-data "${args[@]}" --sites="$sites" \
        || die "core:invalidate-report-data failed" $?
}

matomo_version() {
    sed -n "s/.*const VERSION = '\([^']*\)'.*/\1/p" "$MATOMO_DIR/core/Version.php"
}

# Works the tracking queue off after an upgrade: passes of queuedtracking:process until one processes
# nothing (--force-num-requests-process-at-once=1 takes even a last, short batch), at most
# MATOMO_DRAIN_MAX_PASSES passes. The operator counts the queue tables itself before calling it drained.
role_queue_drain() {
    require_config
    require_env MATOMO_URL
    local passes=0 max=${MATOMO_DRAIN_MAX_PASSES:-1000} out
    # The upgrade's queue (MySQL backend, in the tenant's database), whatever mode the serving pods are in.
    use_work_config drain
    log "working off the tracking queue"
    while ((passes < max)); do
        passes=$((passes + 1))
        out=$(console queuedtracking:process --force-num-requests-process-at-once=1 2>&1) || die "queuedtracking:process failed: $out" 1
        printf '%s\n' "$out"
        # "This worker finished queue processing with …req/s (N requests in S seconds)"
        grep -q "(0 requests in " <<<"$out" && break
    done
    log "drained after $passes pass(es)"
}

case "$ROLE" in
    web)
        [[ -r "$CONFIG_DIR/config.ini.php" ]] || log "warning: config not mounted; /healthz.php will answer 503"
        serve ;;
    tracker)
        [[ -r "$CONFIG_DIR/config.ini.php" ]] || log "warning: config not mounted; /healthz.php will answer 503"
        serve -D MATOMO_TRACKER ;;
    archiver)
        require_config
        require_env MATOMO_URL
        invalidate_reports
        run_job php "$MATOMO_DIR/console" core:archive --url="$MATOMO_URL" "$@" ;;
    scheduled-tasks)
        require_config
        require_env MATOMO_URL
        run_job php "$MATOMO_DIR/console" --no-interaction --matomo-domain="$MATOMO_URL" scheduled-tasks:run "$@" ;;
    install)
        role_install ;;
    update)
        role_update ;;
    settings)
        role_settings ;;
    queue-worker)
        role_queue_worker ;;
    queue-drain)
        role_queue_drain ;;
    '')
        die "MATOMO_ROLE is not set; expected one of: $ROLES" 2 ;;
    *)
        die "unknown MATOMO_ROLE '$ROLE'; expected one of: $ROLES" 2 ;;
esac
