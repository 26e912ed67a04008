#!/usr/bin/env bash
# The Debian package (packaging/, scripts/package.sh): built with CPack from
# the build tree given, then checked with dpkg-deb (control fields, contents,
# conffiles, maintainer scripts) and lintian, which must report no error and
# no warning. Run by ctest: tests/package_test.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work" >/dev/null) || fail "cpack"
deb="$(ls "$work"/flatcast_*_amd64.deb)"
echo "package: $(basename "$deb") ($(stat -c %s "$deb") bytes)"

info="$(dpkg-deb -I "$deb")"
for field in "Package: flatcast" "Section: net" "Depends: adduser, systemd"; do
  grep -q "$field" <<<"$info" || fail "control lacks '$field'"
done
grep -q "libzmq5" <<<"$info" || fail "the shared libraries are not in Depends"

contents="$(dpkg-deb -c "$deb" | awk '{print $6}')"
for path in ./usr/bin/flatcast-broker ./usr/bin/flatcast-subscriber ./usr/bin/flatcast-publisher \
            ./usr/bin/flatcast-audit ./usr/bin/flatcast-keys ./usr/bin/flatcast-registry \
            ./lib/systemd/system/flatcast-broker.service \
            ./lib/systemd/system/flatcast-subscriber@.service \
            ./etc/flatcast/broker.toml ./etc/flatcast/publishers.toml \
            ./usr/share/flatcast/registry/guizhou-52.tsv \
            ./usr/share/flatcast/prometheus/flatcast.rules.yml \
            ./usr/share/doc/flatcast/copyright ./usr/share/doc/flatcast/changelog.gz \
            ./usr/share/man/man1/flatcast-broker.1.gz; do
  grep -qx "$path" <<<"$contents" || fail "the package lacks $path"
done
if grep -q "flatcast-swarm" <<<"$contents"; then fail "the test swarm is not for packages"; fi

dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do
  sh -n "$work/control/$script" || fail "$script does not parse"
done
grep -qx "/etc/flatcast/broker.toml" "$work/control/conffiles" || fail "broker.toml is no conffile"
grep -q "adduser --system" "$work/control/postinst" || fail "postinst does not create the user"
grep -q -- "--init-only" "$work/control/postinst" || fail "postinst does not create the store"

# The packaged default configuration is one the broker accepts.
dpkg-deb -x "$deb" "$work/root"
sed -e "s|/usr/share/flatcast|$work/root/usr/share/flatcast|" \
    -e "s|/etc/flatcast|$work/root/etc/flatcast|" \
    -e "s|/var/lib/flatcast|$work/var|" "$work/root/etc/flatcast/broker.toml" >"$work/broker.toml"
"$build/bin/flatcast-broker" --config "$work/broker.toml" --check-config --init |
  grep -q "configuration OK" || fail "the packaged broker.toml does not check"

report="$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v "running with root privileges" || true)"
if [ -n "$report" ]; then
  echo "$report"
  fail "lintian reports the above"
fi
echo "dpkg-deb and lintian: clean"
