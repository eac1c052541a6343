#!/bin/sh
# Installs a socle release binary, checked against its SHA-256, and prints
# the binary's path. Used by the GitHub Action, the GitLab template and the
# pre-commit hook, so each runs the release it is pinned to and never
# builds socle.
#
#   ci/install.sh VERSION [SHA256]
#
# VERSION is the release (tag v<VERSION>). SHA256 is the checksum of the
# release archive for this platform (the release's SHA256SUMS lists them);
# without it, the archive is checked against the release's SHA256SUMS.
# SOCLE_RELEASES is where releases are downloaded from (a mirror, a fork);
# SOCLE_INSTALL_DIR where the binary goes (default: the user's cache, one
# folder per version, so a second run downloads nothing).
set -eu

version="${1:-}"
version="${version#v}"
sha="${2:-}"
if [ -z "$version" ]; then
  echo "install.sh: which socle release? usage: install.sh VERSION [SHA256]" >&2
  exit 2
fi
releases="${SOCLE_RELEASES:-https://github.com/socle-dev/socle/releases/download}"

os=$(uname -s)
arch=$(uname -m)
case "$os-$arch" in
  Linux-x86_64 | Linux-amd64) target=x86_64-unknown-linux-musl ;;
  Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  MINGW*-x86_64 | MSYS*-x86_64 | CYGWIN*-x86_64) target=x86_64-pc-windows-msvc ;;
  *)
    echo "install.sh: socle publishes no binary for $os $arch; build it with: cargo install --locked socle --version $version" >&2
    exit 2
    ;;
esac
case "$target" in
  *-windows-msvc) archive_ext=zip exe=socle.exe ;;
  *) archive_ext=tar.gz exe=socle ;;
esac
name="socle-$version-$target"
archive="$name.$archive_ext"
dir="${SOCLE_INSTALL_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/socle/bin/$version-$target}"

# Installed by an earlier run, from an archive with the same checksum.
if [ -x "$dir/$exe" ] && [ -f "$dir/archive.sha256" ]; then
  if [ -z "$sha" ] || [ "$(cat "$dir/archive.sha256")" = "$sha" ]; then
    echo "$dir/$exe"
    exit 0
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 --output "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  elif command -v python3 >/dev/null 2>&1; then
    # Slim Python images have neither curl nor wget.
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"
  else
    echo "install.sh: none of curl, wget or python3 is installed to download socle" >&2
    exit 2
  fi
}
digest() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}

if ! fetch "$releases/v$version/$archive" "$work/$archive"; then
  echo "install.sh: cannot download $releases/v$version/$archive" >&2
  exit 2
fi
if [ -z "$sha" ]; then
  if ! fetch "$releases/v$version/SHA256SUMS" "$work/SHA256SUMS"; then
    echo "install.sh: cannot download the release's SHA256SUMS; pass the archive's checksum" >&2
    exit 2
  fi
  sha=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$work/SHA256SUMS")
  if [ -z "$sha" ]; then
    echo "install.sh: $archive is not listed in the release's SHA256SUMS" >&2
    exit 2
  fi
fi
actual=$(digest "$work/$archive")
if [ "$actual" != "$sha" ]; then
  echo "install.sh: $archive has checksum $actual, expected $sha: not installed" >&2
  exit 2
fi

case "$archive_ext" in
  zip)
    if command -v unzip >/dev/null 2>&1; then
      unzip -q "$work/$archive" -d "$work"
    else
      7z x -bd -o"$work" "$work/$archive" >/dev/null
    fi
    ;;
  *) tar -xzf "$work/$archive" -C "$work" ;;
esac
mkdir -p "$dir"
mv "$work/$name/$exe" "$dir/$exe"
chmod +x "$dir/$exe"
printf '%s\n' "$sha" > "$dir/archive.sha256"
echo "$dir/$exe"
