#!/usr/bin/env bash
# The kernel matrix: boots Debian's kernels in QEMU and runs, inside each,
# the verifier budget (internal/probes TestVerifierBudget: every program in
# every feature combination loads, or its feature is left off as expected,
# with its stack and instruction counts) and the kernel smoke
# (receiver/ebpfredreceiver TestKernelSmoke: the receiver starts with every
# feature requested, counts HTTP/1.1, h2c and Go HTTPS requests exactly, and
# the traceparent it injects reaches the next server). The same two checks
# run on the host's own kernel. Prints a table kernel × check; exits non-zero
# when a check fails anywhere.
#
# QEMU runs with TCG (software emulation): nested KVM hangs on our machines.
# A busybox initramfs holds the two static test binaries and nothing else.
#
#   scripts/test-kernels.sh            # 5.10 6.1 6.12 and the host
#   KERNELS="6.1" scripts/test-kernels.sh
#
# Needs: qemu-system-x86, busybox-static, cpio, curl, Go; root for the host
# run (the guests run as their own root).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOPROXY=${GOPROXY:-https://proxy.golang.org}

KERNELS=${KERNELS:-"5.10 6.1 6.12"}
CACHE=${EBPFRED_KERNEL_CACHE:-bin/kernels}
# Per guest. Software emulation verifies the capture programs slowly: the
# 5.10 guest took 408 s on a quiet machine on 2026-12-03 (boot, verifier
# table, smoke), more under load; 1200 s leaves room for both.
QEMU_TIMEOUT=${QEMU_TIMEOUT:-1200}

# Debian's cloud kernels (BTF, uprobes, ring buffers built in), pinned by
# checksum. 5.10 is Debian 11's (bullseye), 6.1 Debian 12's, 6.12 Debian
# 12's backport. When a pinned file has left the archive, the newest kernel
# of the same series in the apt index is used instead (and said).
kernel_deb() {
	case $1 in
	5.10) echo "http://deb.debian.org/debian/pool/main/l/linux/linux-image-5.10.0-32-cloud-amd64-unsigned_5.10.223-1_amd64.deb b1fb8d34c26105a2ba1271a3df868a9eea460657df98c77fd08822ef4908c9db" ;;
	6.1) echo "http://deb.debian.org/debian/pool/main/l/linux/linux-image-6.1.0-47-cloud-amd64-unsigned_6.1.170-3_amd64.deb 554cf5c453f93c86d9af849d98f21826fe9ea3d0eeec6a5c6ed603a5788ff054" ;;
	6.12) echo "http://deb.debian.org/debian-security/pool/updates/main/l/linux-6.12/linux-image-6.12.107+deb12-cloud-amd64-unsigned_6.12.107-1~deb12u1_amd64.deb 752d15dbe0817b35ec227f352e226122ec6567bd47e7240c90e01e61a179baad" ;;
	*) return 1 ;;
	esac
}

# vmlinuz VERSION prints the path of that kernel's image, fetching it once.
vmlinuz() {
	local v=$1 dir="$CACHE/$1"
	if ! ls "$dir"/vmlinuz-* >/dev/null 2>&1; then
		mkdir -p "$dir"
		local url sum deb="$dir/kernel.deb"
		read -r url sum < <(kernel_deb "$v") || { echo "test-kernels: no kernel $v known" >&2; return 1; }
		if ! curl -fsS -m 300 -o "$deb" "$url" || ! echo "$sum  $deb" | sha256sum -c --quiet; then
			echo "test-kernels: $url could not be had; trying the apt index for a $v kernel" >&2
			local pkg
			pkg=$(apt-cache search --names-only "^linux-image-${v//./\\.}[.0-9+a-z-]*-cloud-amd64-unsigned\$" | awk '{print $1}' | sort -V | tail -n1)
			[ -n "$pkg" ] || { echo "test-kernels: no $v cloud kernel in the apt index" >&2; return 1; }
			(cd "$dir" && apt-get download -q "$pkg" && mv ./*.deb kernel.deb)
		fi
		local x
		x=$(mktemp -d)
		dpkg-deb -x "$deb" "$x"
		cp "$x"/boot/vmlinuz-* "$dir"/
		rm -rf "$x" "$deb"
	fi
	ls "$dir"/vmlinuz-* | head -n1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "=== building the static test binaries"
CGO_ENABLED=0 go test -c -o "$work/probes.test" ./internal/probes
CGO_ENABLED=0 go test -c -o "$work/receiver.test" ./receiver/ebpfredreceiver

# The initramfs: busybox, the two test binaries, and an /init that mounts
# what the receiver needs, runs both checks, and powers off.
root="$work/root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp}
cp "$(command -v busybox)" "$root/bin/busybox"
for a in sh mount mkdir ip poweroff echo uname cat; do ln -s busybox "$root/bin/$a"; done
cp "$work/probes.test" "$work/receiver.test" "$root/bin/"
cat >"$root/init" <<'EOF'
#!/bin/sh
export PATH=/bin HOME=/tmp TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || mount -t debugfs nodev /sys/kernel/debug
mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup
mount -t tmpfs tmp /tmp
ip link set lo up
echo "EBPFRED-KERNEL $(uname -r)"
cd /tmp
EBPFRED_VERIFIER_TABLE=1 /bin/probes.test -test.run '^TestVerifierBudget$' -test.v -test.timeout 8m
echo "EBPFRED-CHECK verifier $?"
/bin/receiver.test -test.run '^TestKernelSmoke$' -test.v -test.timeout 8m
echo "EBPFRED-CHECK smoke $?"
echo "EBPFRED-DONE"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/init.cpio.gz"

declare -A result
fail=0
checks=(verifier smoke http1 h2c https1 https2 propagation)
# summarise KERNEL LOG: one table row per kernel, from the test output.
summarise() {
	local k=$1 log=$2 c line
	for c in verifier smoke; do
		local rc
		rc=$(tr -d '\r' <"$log" | sed -n "s/.*EBPFRED-CHECK $c \([0-9]*\).*/\1/p" | tail -n1)
		case ${rc:-none} in
		0) result[$k,$c]=pass ;;
		none) result[$k,$c]="no result"; fail=1 ;;
		*) result[$k,$c]=FAIL; fail=1 ;;
		esac
	done
	for c in http1 h2c https1 https2 propagation; do
		line=$(tr -d '\r' <"$log" | grep -E -- "--- (PASS|FAIL|SKIP): TestKernelSmoke/$c " | tail -n1)
		case $line in
		*PASS*) result[$k,$c]=pass ;;
		*SKIP*) result[$k,$c]=off ;;
		*FAIL*) result[$k,$c]=FAIL; fail=1 ;;
		*) result[$k,$c]="-" ;;
		esac
	done
	local via
	via=$(tr -d '\r' <"$log" | sed -n 's/.*propagation recognises connections through \(.*\)$/\1/p' | tail -n1)
	[ -n "$via" ] && result[$k,propagation]="pass ($via)"
	result[$k,off]=$(tr -d '\r' <"$log" | sed -n 's/.*feature \([a-z_]*\): OFF.*/\1/p' | sort -u | tr '\n' ' ')
	result[$k,hooks]=$(tr -d '\r' <"$log" | sed -n 's/.*capture hooks: \([a-z]*\).*/\1/p' | tail -n1)
}

for v in $KERNELS; do
	img=$(vmlinuz "$v")
	echo "=== Linux $v ($(basename "$img")) in QEMU"
	mkdir -p "$CACHE/logs"
	log="$CACHE/logs/$v.log"
	start=$(date +%s)
	timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048 -nographic -no-reboot \
		-kernel "$img" -initrd "$work/init.cpio.gz" \
		-append "console=ttyS0 panic=-1 quiet" >"$log" 2>&1 || true
	tr -d '\r' <"$log" | grep -vE '^\s*$' | sed -n '/EBPFRED-KERNEL/,$p' | sed 's/^/    /'
	summarise "$v" "$log"
	echo "    ($(($(date +%s) - start)) s)"
done

host="host $(uname -r)"
echo "=== $host"
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$CACHE/logs"
	log="$CACHE/logs/host.log"
	{
		rc=0
		(cd "$work" && EBPFRED_VERIFIER_TABLE=1 ./probes.test -test.run '^TestVerifierBudget$' -test.v) || rc=$?
		echo "EBPFRED-CHECK verifier $rc"
		rc=0
		(cd "$work" && ./receiver.test -test.run '^TestKernelSmoke$' -test.v) || rc=$?
		echo "EBPFRED-CHECK smoke $rc"
	} 2>&1 | tee "$log" | sed 's/^/    /'
	summarise "$host" "$log"
else
	echo "    not root: the host's kernel is not checked"
fi

echo
echo "=== kernel matrix (verifier: every program loads within budget, or its feature is off as expected;"
echo "    smoke: the receiver starts with every feature asked for; then exact counts per kind of request)"
printf '%-28s %-9s' kernel capture
for c in "${checks[@]}"; do printf ' %-11s' "$c"; done
printf ' %s\n' "features off"
for v in $KERNELS "$host"; do
	printf '%-28s %-9s' "$v" "${result[$v,hooks]:--}"
	for c in "${checks[@]}"; do printf ' %-11s' "${result[$v,$c]:-skipped}"; done
	printf ' %s\n' "${result[$v,off]:-}"
done
exit $fail
