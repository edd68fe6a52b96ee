#!/bin/bash
# Digest of what insert and apply write on every fixture, for refactors that must not change a byte:
#   scripts/outputs-digest.sh CHECKOUT OUT   (CHECKOUT: a built checkout, e.g. a git worktree of the old commit)
# then diff OUT_A/hashes.txt OUT_B/hashes.txt. JSON is compared without timing and path keys; the output folder
# name appears in JSON, so compare those files after replacing it. Uses python3 only to strip JSON.
[ $# -eq 2 ] && [ -n "$2" ] || { echo "usage: $0 CHECKOUT OUT" >&2; exit 2; }
D=$(cd "$1" && pwd); OUT=$2; rm -rf "$OUT"; mkdir -p "$OUT/o"; OUT=$(cd "$OUT" && pwd)
BIN="node $D/dist/src/cli/bin.js"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
F=$ROOT/fixtures
for f in $F/*.onnx $F/trained/*.onnx $F/yolov5-external/yolov5-op12.onnx; do
  b=$(basename $(dirname $f))_$(basename $f .onnx)
  for m in NAM GAM SimAM SE CBAM ECA CA; do
    for p in head 2 5; do
      o=$OUT/o/$b.$m.$p.onnx
      $BIN insert $f --after $p --module $m -o $o --no-check --json > $OUT/o/$b.$m.$p.json 2>$OUT/o/$b.$m.$p.err; echo $? > $OUT/o/$b.$m.$p.rc
    done
  done
  $BIN insert $f --after head --module CBAM --opt reduction=4 --gate zero -o $OUT/o/$b.gate.onnx --json > $OUT/o/$b.gate.json 2>$OUT/o/$b.gate.err; echo $? > $OUT/o/$b.gate.rc
  $BIN insert $f --after 2 --module NAM --external-data -o $OUT/o/$b.ext.onnx > /dev/null 2>$OUT/o/$b.ext.err; echo $? > $OUT/o/$b.ext.rc
done
for f in yolov5-op12 rtdetr-l-op16; do
  $BIN insert $F/$f.onnx --after head --module SE -o $OUT/o/$f.checked.onnx > $OUT/o/$f.checked.txt 2>&1; echo $? >> $OUT/o/$f.checked.txt
done
mkdir -p $OUT/plan && cp $ROOT/examples/ci/onnx-attn.plan.yaml $OUT/plan/ && sed -i "s#../../fixtures#$F#" $OUT/plan/onnx-attn.plan.yaml
(cd $OUT/plan && $BIN apply onnx-attn.plan.yaml --json > $OUT/o/apply.json 2> $OUT/o/apply.err; echo $? > $OUT/o/apply.rc)
cp $OUT/plan/build/*.onnx $OUT/o/ 2>/dev/null
# latency/timing fields differ per run: drop them from JSON before hashing
cd $OUT/o && for j in *.json; do python3 -c "
import json,sys,re
t=open('$j').read()
try:
  d=json.loads(t)
except Exception: sys.exit(0)
def strip(x):
  if isinstance(x,dict): return {k:strip(v) for k,v in x.items() if not re.search('ms|latency|time|duration|seconds|elapsed|path',k,re.I)}
  if isinstance(x,list): return [strip(v) for v in x]
  return x
open('$j','w').write(json.dumps(strip(d),sort_keys=True))
"; done
sed -i -E 's/[0-9]+(\.[0-9]+)? ?(ms|s)\b/T/g' *.txt *.err 2>/dev/null
sha256sum * > $OUT/hashes.txt
