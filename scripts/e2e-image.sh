#!/usr/bin/env bash
# End-to-end check of the Debian/Node image path (Image.fromDebianBase), which the unit tests cover only with
# golden Dockerfiles because no base image can be pulled here:
#   1. make node:<major>-bookworm-slim locally: debootstrap a bookworm root filesystem, add this machine's
#      node and npm laid out like the official image, and commit it into a private buildah store under the
#      name the generated Dockerfile uses (so buildah finds it and never pulls);
#   2. run `flyte build` on an environment whose image uses apt, package.json + lockfile, npm, a source file,
#      env vars and a RUN step, pushing to a docker-registry started here;
#   3. check a second `flyte build` reports `exists`, then run the image with `buildah run` as its non-root user.
# Needs root, debootstrap, buildah, docker-registry, and access to the Debian and npm package registries.
# Usage: npm run e2e:image   (KEEP=1 keeps the work folder, including a copy of the debootstrap output that
# E2E_DEBOOTSTRAP_DIR=<that copy> reuses to skip debootstrap; DEBIAN_MIRROR overrides deb.debian.org)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

need() { command -v "$1" >/dev/null 2>&1 || { echo "e2e-image: $1 is not installed. Install it with: apt-get install -y $2" >&2; exit 1; }; }
need debootstrap debootstrap
need buildah buildah
need docker-registry docker-registry
[ "$(id -u)" = 0 ] || { echo "e2e-image: debootstrap and chroot need root; run as root (e.g. in CI or a container)." >&2; exit 1; }

WORK=$(mktemp -d /tmp/flyte-e2e-image.XXXXXX)
REGISTRY_PID=""
cleanup() {
  [ -n "$REGISTRY_PID" ] && kill "$REGISTRY_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "e2e-image: kept $WORK"; else chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; fi
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
BASE="docker.io/library/node:${NODE_MAJOR}-bookworm-slim"
export CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
printf '[storage]\ndriver = "vfs"\nrunroot = "%s"\ngraphroot = "%s"\n' "$WORK/store/run" "$WORK/store/root" > "$CONTAINERS_STORAGE_CONF"

ROOTFS="$WORK/rootfs"
if [ -n "${E2E_DEBOOTSTRAP_DIR:-}" ]; then
  step "reuse the debootstrapped root filesystem in $E2E_DEBOOTSTRAP_DIR"
  cp -a "$E2E_DEBOOTSTRAP_DIR" "$ROOTFS"
else
  step "debootstrap bookworm (minbase)"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOTFS" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  [ -n "${KEEP:-}" ] && cp -a "$ROOTFS" "$WORK/debootstrap"
fi

# Trust the same extra CAs as this machine (e.g. a TLS-inspecting proxy in front of the npm registry), as an
# organisation's base image would; node reads them through NODE_EXTRA_CA_CERTS.
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates > /dev/null
fi

step "add node $(node --version) and npm, and the node user (uid 1000), as in the official image"
install -D -m 0755 "$(command -v node)" "$ROOTFS/usr/local/bin/node"
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mkdir -p "$ROOTFS/usr/local/lib/node_modules"
cp -a "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
chroot "$ROOTFS" groupadd --gid 1000 node
chroot "$ROOTFS" useradd --uid 1000 --gid node --create-home --shell /bin/bash node
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin

step "commit the root filesystem as $BASE"
CTR=$(buildah from scratch)
MNT=$(buildah mount "$CTR")
cp -a "$ROOTFS/." "$MNT/"
buildah umount "$CTR" > /dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd node "$CTR"
buildah commit --quiet "$CTR" "$BASE" > /dev/null
buildah rm "$CTR" > /dev/null

step "start docker-registry"
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$WORK/registry" "$PORT" > "$WORK/registry.yml"
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" > /dev/null && break; sleep 0.2; done

step "write a project that uses apt, package.json + lockfile, npm, a source file, env vars and RUN"
PROJECT="$WORK/project"
mkdir -p "$PROJECT"
cat > "$PROJECT/package.json" <<'EOF'
{ "name": "e2e-app", "version": "1.0.0", "type": "module", "dependencies": { "left-pad": "1.3.0" } }
EOF
(cd "$PROJECT" && npm install --package-lock-only --no-audit --no-fund > /dev/null)
cat > "$PROJECT/check.mjs" <<'EOF'
import leftPad from "left-pad";
import isOdd from "is-odd";
console.log(`check ${process.argv[2]}: ${leftPad("ok", 4, ".")} odd(3)=${isOdd(3)} E2E=${process.env.E2E} user=${process.getuid()}`);
EOF
cat > "$PROJECT/envs.ts" <<EOF
import { Image, TaskEnvironment } from "$REPO/src/index.ts";
const here = (p: string) => new URL(p, import.meta.url);
export const env = new TaskEnvironment({
  name: "e2e",
  image: Image.fromDebianBase({ node: "$NODE_MAJOR", installFlyte: false, registry: "localhost:$PORT", name: "e2e" })
    .withAptPackages("jq")
    .withPackageJson(here("./package.json"))
    .withNpmPackages("is-odd@3.0.1")
    .withSourceFile(here("./check.mjs"), "/app/")
    .withEnvVars({ E2E: "yes" })
    .withCommands(["node /app/check.mjs build-time", "jq --version"]),
});
EOF

step "flyte build (first run builds and pushes)"
(cd "$PROJECT" && node "$REPO/bin/flyte.js" build envs.ts --builder buildah | tee "$WORK/first.txt")
grep -q ' built ' "$WORK/first.txt" || { echo "e2e-image: expected the first build to report 'built'" >&2; exit 1; }
URI=$(awk '{print $1}' "$WORK/first.txt")

step "flyte build (second run finds the tag in the registry)"
(cd "$PROJECT" && node "$REPO/bin/flyte.js" build envs.ts --builder buildah | tee "$WORK/second.txt")
grep -q ' exists ' "$WORK/second.txt" || { echo "e2e-image: expected the second build to report 'exists'" >&2; exit 1; }
curl -fsI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$PORT/v2/e2e/manifests/${URI##*:}" > /dev/null

step "run the image as its user"
CTR=$(buildah from "$URI")
OUT=$(buildah run --isolation chroot "$CTR" -- node /app/check.mjs run-time)
buildah rm "$CTR" > /dev/null
echo "$OUT"
[ "$OUT" = "check run-time: ..ok odd(3)=true E2E=yes user=1000" ] || { echo "e2e-image: unexpected output from the image" >&2; exit 1; }

step "e2e-image passed: $URI"
