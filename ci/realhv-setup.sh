#!/usr/bin/env bash
# Make this machine a realhv host: QEMU and libvirt from Debian's packages,
# and virtlogd + libvirtd running (started by hand where there is no
# systemd). Idempotent: installs only what is missing, starts only what is
# not running. Needs root and apt (Debian 12).
#
# --second-host also starts a second libvirtd, the second "host" of a run
# spread over several libvirt URIs: in a private mount namespace (its own
# /run/libvirt, /var/lib/libvirt, ...), listening on 127.0.0.1:16510 without
# auth; reach it as qemu+tcp://127.0.0.1:16510/system ($VMTESTBED_LIBVIRT_URI2).
set -euo pipefail
second=0
case "${1:-}" in
  "") ;;
  --second-host) second=1 ;;
  *) echo "usage: $0 [--second-host]" >&2; exit 2 ;;
esac
if ((EUID != 0)); then
  echo "realhv-setup: needs root (it installs packages and starts libvirtd)" >&2
  exit 2
fi

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v libvirtd >/dev/null || need+=(libvirt-daemon-system)
command -v virsh >/dev/null || need+=(libvirt-clients)
if ((${#need[@]})); then
  echo "realhv-setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The guest image (realhv.BuildImage) downloads Debian's cloud kernel and
# busybox-static with apt-get download: the package lists must be there.
apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 || apt-get update -qq
mkdir -p /var/cache/vmtestbed/guest

# alive PIDFILE NAME: the daemon that wrote PIDFILE still runs. (Not the
# socket: /run outlives the daemons on this machine kind, so a socket can be
# left from an earlier boot or session; not pgrep: the second host's daemons
# run too, in their own mount namespace.)
alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ -n $pid && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}
log=/var/log/libvirt/vmtestbed-libvirtd.log
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  mkdir -p /var/log/libvirt
  alive /run/virtlogd.pid virtlogd || virtlogd -d
  if ! alive /run/libvirtd.pid libvirtd; then
    echo "realhv-setup: starting libvirtd (log: $log)"
    LIBVIRT_LOG_OUTPUTS="3:file:$log" libvirtd -d
  fi
fi

# wait_for URI: the first connection after a start probes QEMU (about 8 s).
wait_for() {
  for _ in $(seq 1 60); do
    if virsh -c "$1" version >/dev/null 2>&1; then
      echo "realhv-setup: $1 is up ($(virsh -c "$1" version | sed -n 's/^Running hypervisor: //p'))"
      return 0
    fi
    sleep 1
  done
  echo "realhv-setup: $1 did not answer within 60 s" >&2
  return 1
}
wait_for qemu:///system || { tail -n 30 "$log" >&2 2>/dev/null; exit 1; }

if ((second)); then
  uri2=qemu+tcp://127.0.0.1:16510/system
  if ! virsh -c "$uri2" version >/dev/null 2>&1; then
    conf=/run/vmtestbed-libvirtd2.conf
    printf 'listen_tls = 0\nlisten_tcp = 1\ntcp_port = "16510"\nlisten_addr = "127.0.0.1"\nauth_tcp = "none"\n' >"$conf"
    setsid unshare -m --propagation private bash -c "
      for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do mount -t tmpfs tmpfs \$d; done
      mkdir -p /var/lib/libvirt/qemu /var/cache/libvirt/qemu /var/log/libvirt/qemu /run/libvirt/qemu
      virtlogd -d -p /run/libvirt/virtlogd.pid
      exec libvirtd --listen -f $conf -p /run/libvirt/libvirtd.pid" >/var/log/vmtestbed-libvirtd2.log 2>&1 </dev/null &
  fi
  wait_for "$uri2" || { tail -n 30 /var/log/vmtestbed-libvirtd2.log >&2; exit 1; }
  echo "VMTESTBED_LIBVIRT_URI2=$uri2"
fi
