#!/usr/bin/env bash
# Fills .dev/ (git-ignored through .git/info/exclude) with what tools/bench/device_run.sh needs
# on the GPU machine, which has CUDA, PyTorch, CMake and ninja but none of our small C++ deps:
# Debian .debs, packed as .dev/deps.tar.xz (unpacked there into /tmp/deps, never into /), and
# the CLIP vocabulary.
# Run here, then call the device tool with carry [".dev"].
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .git/info .dev/debs
grep -qx '/.dev/' .git/info/exclude 2>/dev/null || echo '/.dev/' >> .git/info/exclude
(cd .dev/debs && apt-get download nlohmann-json3-dev libcli11-dev libgtest-dev libpng-dev \
  libpng16-16 zlib1g-dev libsqlite3-dev libsqlite3-0 libcpp-httplib-dev libcpp-httplib0.11 \
  libbrotli1 libssl3 libbrotli-dev libssl-dev pkgconf pkgconf-bin libpkgconf3)
# Unpacked without docs and static libraries (gtest's excepted) into one .tar.xz: the .debs
# with the diffusers wheels (bench/fetch_wheels.sh) would pass the device tool's 64 MiB.
tmp=$(mktemp -d)
for f in .dev/debs/*.deb; do dpkg -x "$f" "$tmp"; done
rm -rf "$tmp/usr/share/doc" "$tmp/usr/share/man" "$tmp/usr/share/lintian"
find "$tmp" -name '*.a' ! -name 'libgtest*' -delete
tar -C "$tmp" -cJf .dev/deps.tar.xz . && rm -rf "$tmp" .dev/debs
bash tools/fetch_clip_vocab.sh .dev
du -sh .dev
