# Shared by the testbed scripts (sourced, not run).
# Network rule: every interface these scripts create lives inside a namespace they created. Nothing is ever
# attached to, routed to or created in the root namespace, so testbed traffic cannot leave the testbed.

die() { echo "testbed: $*" >&2; exit 1; }

need_root() {
  command -v ip >/dev/null 2>&1 || die "the 'ip' command (iproute2) is not installed"
  [ "$(id -u)" -eq 0 ] || die "needs root to create network namespaces (ip netns); run with sudo"
}

# NAME becomes a prefix of namespace names ("NAME-br", "NAME-h1"); no '-' so that 'down a' never matches 'a-b-h1'.
check_name() {
  [[ "$1" =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "NAME must be 1-10 lowercase letters or digits, starting with a letter (got '$1')"
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

namespaces_of() { ip netns list 2>/dev/null | awk '{print $1}' | grep -- "^$1-" || true; }
