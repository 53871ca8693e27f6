#!/usr/bin/env bash
# The nightly run for KVM hosts (it works on TCG too, only slower): every
# conformance suite and every scenario, on the fake backend and, where it
# applies, on realhv (real libvirt + QEMU guests, spread over every
# --libvirt-uri). Each job's output and reports (--json, --junit, run
# --report) are kept under OUT/DATE/JOB/, and OUT/DATE/summary.md and
# index.html list pass/fail with links. Exits 1 when a job failed.
#
#   ci/nightly.sh [--quick] [--fake-only] [--no-setup] [--no-build]
#                 [--bin DIR] [--out DIR] [--libvirt-uri URI]...
#
#   --quick       a short tier: the realhv hypervisor suite's agent specs
#                 only, scenarios three-nodes and validators-on-hypervisor
#   --fake-only   no realhv jobs (no libvirt needed)
#   --no-setup    do not run ci/realhv-setup.sh --second-host first
#   --no-build    use the binaries already in --bin (default bin/, make build)
#   --out DIR     where the dated run directory goes (default bin/nightly)
#   --libvirt-uri hosts for realhv runs (default qemu:///system and, with
#                 the setup's second libvirtd, qemu+tcp://127.0.0.1:16510/system)
#
# Jobs run one at a time (at most 3 guests at once, as each realhv job
# holds). An interrupt stops the job running (vmtestbed removes its
# domains), writes the summary of what ran, and ends the run.
set -uo pipefail

cd "$(dirname "$0")/.."
quick=0 fake_only=0 setup=1 build=1 bin=bin out=bin/nightly
uris=()
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --fake-only) fake_only=1 ;;
    --no-setup) setup=0 ;;
    --no-build) build=0 ;;
    --bin) bin="$2"; shift ;;
    --out) out="$2"; shift ;;
    --libvirt-uri) uris+=("$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "nightly: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
run="$out/$stamp"
mkdir -p "$run" || exit 2
results="$run/results.tsv"
: >"$results"
log() { echo "nightly: $*" | tee -a "$run/nightly.log"; }

if ((build)); then
  log "make build"
  make build >"$run/build.log" 2>&1 || { log "make build failed: $run/build.log"; exit 2; }
fi
vmtestbed="$bin/vmtestbed" agent="$bin/vmagent"
[[ -x "$vmtestbed" ]] || { log "no $vmtestbed (make build, or --bin DIR)"; exit 2; }

if ((!fake_only)); then
  if ((setup)); then
    log "ci/realhv-setup.sh --second-host"
    ci/realhv-setup.sh --second-host >"$run/realhv-setup.log" 2>&1 || { log "realhv setup failed: $run/realhv-setup.log"; exit 2; }
  fi
  if ((${#uris[@]} == 0)); then
    uris=(qemu:///system)
    second="${VMTESTBED_LIBVIRT_URI2:-qemu+tcp://127.0.0.1:16510/system}"
    virsh -c "$second" version >/dev/null 2>&1 && uris+=("$second")
  fi
fi
uri_flags=()
for u in "${uris[@]}"; do uri_flags+=(--libvirt-uri "$u"); done
realhv_flags=(--backend realhv --guest-agent "$agent" "${uri_flags[@]}")
# conform agent boots one guest: on the first host.
agent_realhv_flags=(--backend realhv --guest-agent "$agent" "${uri_flags[@]:0:2}")

# Per-job bound: a full realhv hypervisor suite boots many guests on TCG.
if ((quick)); then bound=10m; else bound=60m; fi

interrupted=0
current=""
trap 'interrupted=1; [[ -n "$current" ]] && kill -INT "$current" 2>/dev/null' INT TERM

# job NAME BACKEND ARGS...: runs vmtestbed ARGS in $run/NAME, keeps its
# output, records the result. In ARGS, @DIR@ stands for the job directory.
job() {
  local name="$1" backend="$2"; shift 2
  ((interrupted)) && return
  local dir="$run/$name" args=() a
  mkdir -p "$dir"
  for a in "$@"; do args+=("${a//@DIR@/$dir}"); done
  printf '%s\n' "$vmtestbed ${args[*]}" >"$dir/command"
  local start=$SECONDS rc
  timeout --foreground -s INT -k 60 "$bound" "$vmtestbed" "${args[@]}" >"$dir/output.log" 2>&1 &
  current=$!
  wait "$current"; rc=$?
  if ((interrupted)); then # the first wait ended on our trap: wait for the job's own status
    wait "$current" 2>/dev/null; rc=$?
  fi
  current=""
  local result=PASS
  case "$rc" in
    0) ;;
    124 | 137) result=TIMEOUT ;; # 137: timeout -k had to kill it
    *) result=FAIL ;;
  esac
  ((interrupted)) && result=INTERRUPTED
  printf '%s\t%s\t%s\t%d\t%d\n' "$name" "$backend" "$result" "$rc" $((SECONDS - start)) >>"$results"
  log "$(printf '%-45s %-6s %-11s %4ds' "$name" "$backend" "$result" $((SECONDS - start)))"
}

# --- suites ---------------------------------------------------------------
# The fake suites take seconds: the quick tier runs them whole, and only
# focuses the realhv hypervisor suite (every instance spec boots a guest).
hv_real_focus=()
((quick)) && hv_real_focus=(--focus 'HV-AGT-')
suite_reports=(--json @DIR@/result.json --junit @DIR@/junit.xml)
job conform-avalanche-refvm fake conform avalanche --in-process refvm "${suite_reports[@]}" --trace @DIR@/trace.md
job conform-hypervisor-fake fake conform hypervisor --backend fake "${suite_reports[@]}"
job conform-agent-fake fake conform agent --backend fake "${suite_reports[@]}"
if ((!fake_only)); then
  job conform-agent-realhv realhv conform agent "${agent_realhv_flags[@]}" "${suite_reports[@]}"
  job conform-hypervisor-realhv realhv conform hypervisor "${realhv_flags[@]}" "${hv_real_focus[@]}" "${suite_reports[@]}"
fi

# --- scenarios ------------------------------------------------------------
all=$("$vmtestbed" run --list | awk '{print $1}') && [[ -n "$all" ]] ||
  { log "vmtestbed run --list failed or listed nothing"; exit 2; }
on_hv=$("$vmtestbed" run --list --backend realhv | awk '{print $1}') && [[ -n "$on_hv" ]] ||
  { log "vmtestbed run --list --backend realhv failed or listed nothing"; exit 2; }
if ((quick)); then
  all=$(grep -xE 'three-nodes|validators-on-hypervisor' <<<"$all")
  on_hv=$(grep -x 'validators-on-hypervisor' <<<"$on_hv")
fi
for sc in $all; do
  job "run-$sc-fake" fake run "$sc" --seed 1 --quiet --report @DIR@/report
done
if ((!fake_only)); then
  for sc in $on_hv; do
    job "run-$sc-realhv" realhv run "$sc" --seed 1 --quiet --report @DIR@/report "${realhv_flags[@]}"
  done
fi

# --- no domain left behind -------------------------------------------------
if ((!fake_only)) && ((!interrupted)); then
  left=""
  for u in "${uris[@]}"; do
    for d in $(virsh -c "$u" list --all --name 2>/dev/null | grep '^vmtestbed-'); do
      left+="$u $d"$'\n'
      virsh -c "$u" destroy "$d" >/dev/null 2>&1
      virsh -c "$u" undefine --nvram "$d" >/dev/null 2>&1 || virsh -c "$u" undefine "$d" >/dev/null 2>&1
    done
  done
  mkdir -p "$run/no-domains-left"
  printf '%s' "$left" >"$run/no-domains-left/output.log"
  if [[ -z "$left" ]]; then r=PASS; else r=FAIL; fi
  printf '%s\t%s\t%s\t%d\t%d\n' no-domains-left realhv "$r" 0 0 >>"$results"
  log "no-domains-left: $r"
fi

# --- summary --------------------------------------------------------------
passed=$(awk -F'\t' '$3=="PASS"' "$results" | wc -l)
total=$(wc -l <"$results")
outcome() { # the job's last result line: suite counts, or the scenario's verdict
  grep -E '[0-9]+ specs, |^scenario .* (passed|FAILED) with seed' "$run/$1/output.log" 2>/dev/null | tail -1 | cut -c1-160
}
links() { # the files a job kept, relative to the run directory
  (cd "$run" && find "$1" -maxdepth 2 -type f \( -name output.log -o -name '*.json' -o -name '*.xml' -o -name '*.md' -o -name '*.html' -o -name summary.txt \) | sort)
}
{
  echo "# vmtestbed nightly $stamp"
  echo
  echo "$passed of $total jobs passed$( ((quick)) && echo ' (quick tier)')$( ((interrupted)) && echo '; INTERRUPTED')."
  echo "Host: $(uname -n), $(nproc) cores; libvirt: ${uris[*]:-none (fake only)}; commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "realhv runs are not deterministic (real guests boot in wall time); fake runs replay with their seed."
  echo
  echo "| job | backend | result | seconds | outcome | files |"
  echo "|---|---|---|---|---|---|"
  while IFS=$'\t' read -r name backend result rc secs; do
    files=""
    for f in $(links "$name"); do files+="[${f#"$name"/}]($f) "; done
    echo "| $name | $backend | $result (exit $rc) | $secs | $(outcome "$name" | sed 's/|/\\|/g') | $files|"
  done <"$results"
} >"$run/summary.md"
{
  echo "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>vmtestbed nightly $stamp</title>"
  echo "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}.PASS{color:#080}.FAIL,.TIMEOUT,.INTERRUPTED{color:#c00;font-weight:bold}</style></head><body>"
  echo "<h1>vmtestbed nightly $stamp</h1><p>$passed of $total jobs passed$( ((quick)) && echo ' (quick tier)')$( ((interrupted)) && echo '; INTERRUPTED'). realhv runs are not deterministic (real guests boot in wall time).</p>"
  echo "<table><tr><th>job</th><th>backend</th><th>result</th><th>seconds</th><th>outcome</th><th>files</th></tr>"
  while IFS=$'\t' read -r name backend result rc secs; do
    files=""
    for f in $(links "$name"); do files+="<a href=\"$f\">${f#"$name"/}</a> "; done
    o=$(outcome "$name" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g')
    echo "<tr><td>$name</td><td>$backend</td><td class=\"$result\">$result</td><td>$secs</td><td>$o</td><td>$files</td></tr>"
  done <"$results"
  echo "</table></body></html>"
} >"$run/index.html"
ln -sfn "$stamp" "$out/latest"
log "$passed of $total jobs passed; summary: $run/summary.md ($run/index.html)"
((interrupted)) && exit 130
((passed == total)) || exit 1
exit 0
