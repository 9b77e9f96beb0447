#!/usr/bin/env bash
# Builds a previous release of Linli — its server binary and its web bundle — for the
# upgrade test (web/e2e/upgrade.test.mjs): a phone offline across an upgrade from that
# release to this tree loses none of its waiting work.
#
# Usage: web/scripts/old-release.sh <commit> [<outdir>]
#   <outdir> defaults to $CARGO_TARGET_DIR/old-release-<commit> (<repo>/target/... when
#   CARGO_TARGET_DIR is unset). It ends up with:
#     <outdir>/linli        the release's server binary (debug build)
#     <outdir>/dist/        the release's PWA (npm run build)
#     <outdir>/COMMIT       the full commit id; written last, so it marks a finished build
#     <outdir>/src/         the commit's tree (git archive), kept for a look
# If <outdir> already holds a finished build of that commit, it does nothing.
#
# The server is built in the caller's CARGO_TARGET_DIR, so the ~400 crates.io dependencies
# compiled for this tree are reused (on this 2-CPU box that saves ~7 minutes). Two things
# make that safe:
#   - cargo names a workspace crate's artifacts by its path *relative to the workspace
#     root*, so the release's linli-shared and linli-server would land in this tree's
#     slots, and cargo then judges by mtimes: the next build of this tree can call the
#     release's artifacts fresh and hand out the OLD code as the current binary (seen:
#     `Fresh linli-shared` after building the release in the same slots). So the release's
#     workspace crates are built with a profile override (codegen-units = 255, otherwise
#     harmless) that gives them slots of their own; dependencies keep theirs.
#   - the release's build overwrites the uplifted $CARGO_TARGET_DIR/debug/linli (and the
#     workspace crates' .rlib/.d files beside it): they are copied aside first and put back
#     afterwards (renamed into place, never copied onto cargo's hard links).
set -euo pipefail

say() { printf 'old-release: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 <commit> [<outdir>]"
COMMIT_ARG=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COMMIT=$(git -C "$REPO" rev-parse --verify --quiet "${COMMIT_ARG}^{commit}") || die "no commit $COMMIT_ARG in $REPO"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
mkdir -p "$TARGET"
TARGET=$(cd "$TARGET" && pwd)
OUT=${2:-$TARGET/old-release-$COMMIT_ARG}
CARGO=${CARGO:-cargo}

if [ -x "$OUT/linli" ] && [ -f "$OUT/dist/index.html" ] && [ "$(cat "$OUT/COMMIT" 2>/dev/null)" = "$COMMIT" ]; then
  say "release ${COMMIT:0:12} already built in $OUT: nothing to do"
  exit 0
fi

command -v node >/dev/null || die "node is required (apt-get install nodejs npm)"
START=$SECONDS
say "building release ${COMMIT:0:12} ($(git -C "$REPO" show -s --format='%ci %s' "$COMMIT")) into $OUT"
rm -rf "$OUT/src" "$OUT/dist" "$OUT/linli" "$OUT/COMMIT"
mkdir -p "$OUT/src"

say "exporting the commit's tree: git archive $COMMIT_ARG | tar -x -C $OUT/src"
git -C "$REPO" archive "$COMMIT" | tar -x -C "$OUT/src"

# ---- the server ------------------------------------------------------------------------
# The workspace's own packages get slots of their own in the shared target dir (see above).
OVERRIDES=()
for pkg in $("$CARGO" metadata --no-deps --format-version 1 --manifest-path "$OUT/src/Cargo.toml" |
  node -e 'const m = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(m.packages.map(p => p.name).join("\n"))'); do
  OVERRIDES+=(--config "profile.dev.package.\"$pkg\".codegen-units=255")
done
[ ${#OVERRIDES[@]} -gt 0 ] || die "cargo metadata listed no workspace packages in $OUT/src"

# This tree's uplifted files, which the release's build overwrites: aside, then back.
mkdir -p "$TARGET/debug"
ASIDE=$(mktemp -d "$TARGET/debug/.old-release-aside.XXXXXX")
UPLIFTED=(linli linli.d liblinli_server.rlib liblinli_server.d liblinli_shared.rlib liblinli_shared.d)
for f in "${UPLIFTED[@]}"; do
  if [ -e "$TARGET/debug/$f" ]; then cp -p "$TARGET/debug/$f" "$ASIDE/$f"; fi
done
inode() { stat -c %i "$1" 2>/dev/null || echo none; }
# What the release's build left in debug/ (cargo hard-links its outputs there): only
# those are put back, so a build of this tree that ran in between (other people share
# this target dir) keeps its own.
declare -A RELEASE_INODE=()
restore() {
  for f in "${UPLIFTED[@]}"; do
    if [ -n "${RELEASE_INODE[$f]:-}" ] && [ "$(inode "$TARGET/debug/$f")" != "${RELEASE_INODE[$f]}" ]; then
      rm -f "$ASIDE/$f" # rebuilt by someone else meanwhile: theirs is newer than ours
    elif [ -e "$ASIDE/$f" ]; then
      mv -f "$ASIDE/$f" "$TARGET/debug/$f"
    else
      rm -f "$TARGET/debug/$f" # not there before: do not leave the release's in its place
    fi
  done
  rmdir "$ASIDE" 2>/dev/null || true
}
trap restore EXIT
if [ -e "$ASIDE/linli" ]; then say "this tree's $TARGET/debug/linli copied aside; put back after the build"; fi

say "building the server: CARGO_TARGET_DIR=$TARGET $CARGO build --locked -p linli-server --manifest-path $OUT/src/Cargo.toml (+ a profile override for each of its $((${#OVERRIDES[@]} / 2)) workspace packages)"
T=$SECONDS
CARGO_TARGET_DIR=$TARGET "$CARGO" build --locked -p linli-server --manifest-path "$OUT/src/Cargo.toml" "${OVERRIDES[@]}" ||
  die "cargo build of the release's server failed"
for f in "${UPLIFTED[@]}"; do
  if [ -e "$TARGET/debug/$f" ]; then RELEASE_INODE[$f]=$(inode "$TARGET/debug/$f"); fi
done
[ -x "$TARGET/debug/linli" ] || die "cargo built no $TARGET/debug/linli"
cp -p "$TARGET/debug/linli" "$OUT/linli.tmp" && mv -f "$OUT/linli.tmp" "$OUT/linli"
restore
trap - EXIT
if [ -e "$TARGET/debug/linli" ]; then say "this tree's $TARGET/debug/linli is back"; fi
say "server built in $((SECONDS - T)) s: $OUT/linli"

# ---- the web app -----------------------------------------------------------------------
say "building the web app in $OUT/src/web: npm ci --no-audit --no-fund --prefer-offline && npm run build"
T=$SECONDS
(cd "$OUT/src/web" && npm ci --no-audit --no-fund --prefer-offline) || die "npm ci of the release's web app failed"
(cd "$OUT/src/web" && npm run build) || die "npm run build of the release's web app failed"
[ -f "$OUT/src/web/dist/index.html" ] || die "the release's web build made no dist/index.html"
cp -a "$OUT/src/web/dist" "$OUT/dist"
say "web app built in $((SECONDS - T)) s: $OUT/dist"

echo "$COMMIT" >"$OUT/COMMIT"
say "release ${COMMIT:0:12} built in $((SECONDS - START)) s: $OUT/linli, $OUT/dist"
