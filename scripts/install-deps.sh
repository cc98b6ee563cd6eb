#!/usr/bin/env bash
# Installs exactly the Debian packages PixelCraft API needs to build, run and
# test, and creates the service user. Idempotent: runs `apt-get update` only
# when something is missing, and does nothing when everything is there.
set -euo pipefail

PACKAGES=(
	# build
	gcc make pkg-config
	libfcgi-dev libpq-dev libhiredis-dev libjson-c-dev libjwt-dev
	libcurl4-openssl-dev libssl-dev libcriterion-dev libmicrohttpd-dev
	# run: worker pool, front ends, data stores
	spawn-fcgi multiwatch nginx libnginx-mod-nchan lighttpd
	postgresql pgbouncer redis-server redis-tools
	# test and measure
	curl wrk slowhttptest bc openssl systemd python3-jwt iproute2 iputils-arping gnupg jq gnuplot-nox
	# API docs (Swagger UI, ReDoc and their checks come from npm) and the browser test
	nodejs chromium
	# sanitizers, fuzzing (libFuzzer; json-c rebuilt from its Debian source), valgrind
	clang libclang-rt-14-dev llvm cmake dpkg-dev valgrind
)
# npm ships inside some nodejs builds (NodeSource); Debian's own is a package
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: missing packages: ${missing[*]} (run as root to install)" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The workers run as this user; the socket's group is the web server's.
if [[ $(id -u) -eq 0 ]] && ! getent passwd pixelcraft >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		pixelcraft
	echo "install-deps: created system user pixelcraft"
fi
exit 0
