#!/usr/bin/env bash
# Make this machine a realhv host: QEMU and libvirt from Debian's packages,
# and virtlogd + libvirtd running (started by hand where there is no
# systemd). Idempotent: installs only what is missing, starts only what is
# not running. Needs root and apt (Debian 12).
set -euo pipefail

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

pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d

# The first qemu:///system connection after a start probes QEMU (about 8 s).
for _ in $(seq 1 60); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then
    echo "realhv-setup: libvirt is up ($(virsh -c qemu:///system version | sed -n 's/^Running hypervisor: //p'))"
    exit 0
  fi
  sleep 1
done
echo "realhv-setup: libvirtd did not answer within 60 s" >&2
exit 1
