#!/usr/bin/env bash
# Test rig: pcscd + vsmartcard-vpcd + virtual YubiKeys (vcard). See README.md in this folder.
#
#   rig.sh up                  install missing packages, build vcard, make the test CA, start pcscd
#   rig.sh card SERIAL [PORT]  (re)start a fresh card with that serial; returns once PC/SC sees it
#   rig.sh stop SERIAL         remove that card
#   rig.sh unplug SERIAL       pull the card out of its reader (keys kept); returns once pcscd sees it gone
#   rig.sh plug SERIAL         put the same card back (PIN logged out); returns once PC/SC sees it
#   rig.sh probe SERIAL        run examples/probe.rs against that card (changes its keys)
#   rig.sh unplug-probe SERIAL run examples/unplug.rs: unplug/plug keeps keys, drops the PIN (makes a 9c key)
#   rig.sh pcscd-stop          stop pcscd (the cards keep their keys and wait to reconnect)
#   rig.sh pcscd-start         start pcscd again; returns once every running card is visible
#   rig.sh status              what is running
#   rig.sh down                stop the cards, and pcscd if this rig started it
#
# Every command is idempotent. State, logs and the test CA live in target/ (git-ignored):
#   target/pcscd.log, target/rig/ca.pem (test trust root), target/rig/card-SERIAL.{pid,port,log}
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARGET="$HERE/target"
STATE="$TARGET/rig"
VCARD="$TARGET/release/vcard"
PACKAGES=(pcscd libpcsclite-dev vsmartcard-vpcd libclang-dev pkg-config)
DEFAULT_PORT=35963 # vpcd's first slot (/etc/reader.conf.d/vpcd); the second slot is 35964

log() { echo "rig: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
now_ms() { date +%s%3N; }

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
    command -v cargo >/dev/null || die "cargo not found"
    local t0
    t0=$(now_ms)
    # Release: the card signs attestations with RSA-2048 and runs Trussed's software crypto;
    # unoptimised, startup and every operation are several times slower (see README).
    CARGO_TARGET_DIR="$TARGET" cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" --bin vcard
    log "vcard built in $(($(now_ms) - t0)) ms"
}

# Is something listening on TCP port $1? (/proc, so no extra tools; never connect to vpcd's
# port to find out: vpcd would take the connection for a card.)
listening() {
    local hex
    hex=$(printf '%04X' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {f=1} END {exit !f}'
}

# Is PID $1 alive (not a zombie) and is its command line matching $2?
alive() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ] && { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -q -- "$2"
}

# Stop PID $1 (only if its command line matches $2), waiting up to 3 s.
stop_pid() {
    local pid=$1 pattern=$2 i
    alive "$pid" "$pattern" || return 0
    kill "$pid" 2>/dev/null || as_root kill "$pid"
    for i in $(seq 60); do
        alive "$pid" "$pattern" || return 0
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
}

# Live pcscd processes (pgrep alone also lists zombies).
pcscd_pids() {
    local p
    for p in $(pgrep -x pcscd || true); do alive "$p" pcscd && echo "$p"; done
}

start_pcscd() {
    if [ -n "$(pcscd_pids)" ]; then
        listening "$DEFAULT_PORT" || die "pcscd runs but vpcd does not listen on $DEFAULT_PORT; is vsmartcard-vpcd installed (/etc/reader.conf.d/vpcd)? restart pcscd"
        return 0
    fi
    local t0 i
    t0=$(now_ms)
    # setsid: keep it running when the caller's process group is interrupted.
    as_root setsid pcscd -f -a -i >>"$TARGET/pcscd.log" 2>&1 </dev/null &
    for i in $(seq 100); do
        if listening "$DEFAULT_PORT"; then
            # No pcscd ran before, so this one is ours (its pid, not a wrapper's).
            # sed, not head: head would close the pipe early, and pipefail would end the script.
            pcscd_pids | sed -n 1p >"$STATE/pcscd.pid"
            log "pcscd listening (vpcd on $DEFAULT_PORT) after $(($(now_ms) - t0)) ms; log: $TARGET/pcscd.log"
            return 0
        fi
        sleep 0.05
    done
    die "pcscd did not start listening on $DEFAULT_PORT; see $TARGET/pcscd.log"
}

make_pki() {
    if [ -s "$STATE/ca.key" ] && [ -s "$STATE/ca.pem" ] && [ -s "$STATE/f9.key" ]; then return 0; fi
    "$VCARD" make-ca --ca-key "$STATE/ca.key" --ca-cert "$STATE/ca.pem" --f9-key "$STATE/f9.key"
    log "made the test attestation CA: $STATE/ca.pem"
}

stop_card() {
    local serial=$1 port
    port=$(cat "$STATE/card-$serial.port" 2>/dev/null || echo "$DEFAULT_PORT")
    if [ -f "$STATE/card-$serial.pid" ]; then
        stop_pid "$(cat "$STATE/card-$serial.pid")" "vcard --serial $serial "
        # Let pcscd notice the removal before anyone connects or the next card comes (a client
        # racing the dead card can leave the slot stuck "empty"; see wait_empty in main.rs).
        if [ -n "$(pcscd_pids)" ] && [ -x "$VCARD" ]; then
            "$VCARD" wait-empty --port "$port" --timeout 5 >/dev/null || log "warning: pcscd still shows a card on port $port"
        fi
    fi
    rm -f "$STATE/card-$serial.pid" "$STATE/card-$serial.port" "$STATE/card-$serial.out"
}

cmd_up() {
    mkdir -p "$STATE"
    install_packages
    build
    make_pki
    start_pcscd
    log "up. test CA (extra trust root for attestation): $STATE/ca.pem"
}

cmd_card() {
    local serial=${1:-} port=${2:-$DEFAULT_PORT} f other t0
    [[ $serial =~ ^[0-9]+$ ]] && [ "$serial" -le 4294967295 ] || die "usage: rig.sh card SERIAL [PORT]"
    [ -x "$VCARD" ] && [ -s "$STATE/ca.pem" ] || die "run rig.sh up first"
    listening "$port" || die "vpcd does not listen on port $port (pcscd not running? rig.sh up)"
    stop_card "$serial"
    # One card per vpcd slot: a card already on this port is removed first, unless it is
    # unplugged (`rig.sh unplug`): it stays out, keeps its keys, and may come back once this
    # one is unplugged in turn (three YubiKeys, two USB ports).
    local kept=0
    for f in "$STATE"/card-*.port; do
        [ -e "$f" ] && [ "$(cat "$f")" = "$port" ] || continue
        other=${f##*/card-}
        other=${other%.port}
        if [ -e "$STATE/card-$other.out" ]; then
            kept=1
            continue
        fi
        stop_card "$other"
    done
    # A card left on this port by another checkout's rig (same pcscd) would hold the slot.
    if [ "$kept" = 0 ] && pkill -f -- "vcard --serial [0-9]+ --port $port( |\$)" 2>/dev/null; then
        "$VCARD" wait-empty --port "$port" --timeout 10 >/dev/null 2>&1 || true
    fi
    t0=$(now_ms)
    setsid "$VCARD" --serial "$serial" --port "$port" \
        --attest-ca-key "$STATE/ca.key" --attest-ca-cert "$STATE/ca.pem" --f9-key "$STATE/f9.key" \
        >"$STATE/card-$serial.log" 2>&1 </dev/null &
    echo $! >"$STATE/card-$serial.pid"
    echo "$port" >"$STATE/card-$serial.port"
    if ! "$VCARD" wait --serial "$serial" --port "$(cat "$STATE/card-$serial.port" 2>/dev/null || echo "$DEFAULT_PORT")" --timeout 10 >/dev/null; then
        tail -n 20 "$STATE/card-$serial.log" >&2 || true
        die "card $serial did not show up in PC/SC"
    fi
    log "card $serial visible on vpcd port $port after $(($(now_ms) - t0)) ms (log: $STATE/card-$serial.log)"
}

# The pid of the running card process for SERIAL $1, or a clear error.
card_pid() {
    local serial=$1 pid
    pid=$(cat "$STATE/card-$serial.pid" 2>/dev/null) || die "card $serial is not running (start it: rig.sh card $serial)"
    alive "$pid" "vcard --serial $serial " || die "card $serial is not running (stale pid file; start it: rig.sh card $serial)"
    [ -n "$(pcscd_pids)" ] || die "pcscd is not running (rig.sh up)"
    echo "$pid"
}

# Simulated removal: SIGUSR1 makes the card leave vpcd but keep all its state (see Plug in
# main.rs). Waiting for pcscd to see the slot empty also keeps the next plug or client from the
# race described in stop_card. Unplugging an unplugged card changes nothing.
cmd_unplug() {
    local serial=${1:-} pid port t0
    [[ $serial =~ ^[0-9]+$ ]] || die "usage: rig.sh unplug SERIAL"
    pid=$(card_pid "$serial")
    port=$(cat "$STATE/card-$serial.port" 2>/dev/null || echo "$DEFAULT_PORT")
    t0=$(now_ms)
    kill -USR1 "$pid"
    touch "$STATE/card-$serial.out"
    "$VCARD" wait-empty --port "$port" --timeout 5 >/dev/null || die "pcscd still shows a card on port $port after unplugging card $serial"
    log "card $serial unplugged from vpcd port $port after $(($(now_ms) - t0)) ms (state kept; rig.sh plug $serial)"
}

# Simulated re-insertion of the same card: SIGUSR2 makes it reconnect to vpcd; pcscd powers it
# up (a new session: PIN not verified). Plugging a plugged-in card changes nothing.
cmd_plug() {
    local serial=${1:-} pid t0
    [[ $serial =~ ^[0-9]+$ ]] || die "usage: rig.sh plug SERIAL"
    pid=$(card_pid "$serial")
    t0=$(now_ms)
    kill -USR2 "$pid"
    rm -f "$STATE/card-$serial.out"
    if ! "$VCARD" wait --serial "$serial" --port "$(cat "$STATE/card-$serial.port" 2>/dev/null || echo "$DEFAULT_PORT")" --timeout 10 >/dev/null; then
        tail -n 20 "$STATE/card-$serial.log" >&2 || true
        die "card $serial did not show up in PC/SC after plugging it back in"
    fi
    log "card $serial plugged back in, visible after $(($(now_ms) - t0)) ms"
}

cmd_unplug_probe() {
    local serial=${1:-}
    [[ $serial =~ ^[0-9]+$ ]] || die "usage: rig.sh unplug-probe SERIAL"
    CARGO_TARGET_DIR="$TARGET" cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" --example unplug
    "$TARGET/release/examples/unplug" "$serial"
}

cmd_probe() {
    local serial=${1:-}
    [[ $serial =~ ^[0-9]+$ ]] || die "usage: rig.sh probe SERIAL"
    CARGO_TARGET_DIR="$TARGET" cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" --example probe
    mkdir -p "$STATE/probe-$serial"
    "$TARGET/release/examples/probe" "$serial" --ca "$STATE/ca.pem" --out "$STATE/probe-$serial"
}

# pcscd going away mid-ceremony (a crash, an upgrade, systemd restarting it): stop every pcscd
# and wait until vpcd's port is closed. The card processes keep their state and reconnect.
cmd_pcscd_stop() {
    local p i
    for p in $(pcscd_pids); do stop_pid "$p" pcscd; done
    for i in $(seq 100); do
        listening "$DEFAULT_PORT" || [ -n "$(pcscd_pids)" ] || break
        sleep 0.05
    done
    listening "$DEFAULT_PORT" && die "pcscd still listens on $DEFAULT_PORT"
    [ -z "$(pcscd_pids)" ] || die "pcscd is still running: $(pcscd_pids | tr '\n' ' ')"
    rm -f "$STATE/pcscd.pid"
    log "pcscd stopped"
}

# pcscd back: start it, then wait until every running card has reconnected and is visible.
cmd_pcscd_start() {
    local f serial
    start_pcscd
    for f in "$STATE"/card-*.pid; do
        [ -e "$f" ] || continue
        serial=${f##*/card-}
        serial=${serial%.pid}
        alive "$(cat "$f")" "vcard --serial $serial " || continue
        # An unplugged card stays out until `rig.sh plug`.
        [ -e "$STATE/card-$serial.out" ] && continue
        "$VCARD" wait --serial "$serial" --port "$(cat "$STATE/card-$serial.port" 2>/dev/null || echo "$DEFAULT_PORT")" --timeout 15 >/dev/null || die "card $serial did not come back after pcscd restarted"
        log "card $serial visible again"
    done
}

cmd_status() {
    local f serial
    if [ -n "$(pcscd_pids)" ]; then
        log "pcscd running (pid $(pcscd_pids | tr '\n' ' '))$([ -f "$STATE/pcscd.pid" ] && echo ', started by this rig')"
    else
        log "pcscd not running"
    fi
    for f in "$STATE"/card-*.pid; do
        [ -e "$f" ] || continue
        serial=${f##*/card-}
        serial=${serial%.pid}
        if alive "$(cat "$f")" "vcard --serial $serial "; then
            log "card $serial: pid $(cat "$f"), vpcd port $(cat "$STATE/card-$serial.port" 2>/dev/null)"
        else
            log "card $serial: not running (stale pid file)"
        fi
    done
}

cmd_down() {
    local f serial
    for f in "$STATE"/card-*.pid; do
        [ -e "$f" ] || continue
        serial=${f##*/card-}
        stop_card "${serial%.pid}"
    done
    if [ -f "$STATE/pcscd.pid" ]; then
        stop_pid "$(cat "$STATE/pcscd.pid")" "pcscd"
        rm -f "$STATE/pcscd.pid"
        log "pcscd stopped"
    fi
    log "down"
}

case "${1:-}" in
up) cmd_up ;;
card) cmd_card "${@:2}" ;;
stop)
    [[ ${2:-} =~ ^[0-9]+$ ]] || die "usage: rig.sh stop SERIAL"
    stop_card "$2"
    ;;
unplug) cmd_unplug "${@:2}" ;;
plug) cmd_plug "${@:2}" ;;
probe) cmd_probe "${@:2}" ;;
unplug-probe) cmd_unplug_probe "${@:2}" ;;
pcscd-stop) cmd_pcscd_stop ;;
pcscd-start) cmd_pcscd_start ;;
status) cmd_status ;;
down) cmd_down ;;
*)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
