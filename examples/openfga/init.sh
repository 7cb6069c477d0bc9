#!/bin/sh
# Prepares the OpenFGA of docker-compose.yml for the gateway: creates a store, loads model.json
# (the model of model.fga), writes sample grants, and leaves the store and model ids in $OUT_FILE
# as KEY=value lines, which the gateway container sources before it starts.
#
# Sample grants (the /fga route of config.compose.yaml):
#   user:alice  editor  bucket:fga        -> alice may upload any key
#   user:bob    editor  folder:fga/bob/   -> bob may upload below bob/
#   (mallory has no grant)                -> 403 AccessDenied
set -eu

FGA="${OPENFGA_URL:-http://openfga:8080}"
OUT="${OUT_FILE:-/run/openfga/ids.env}"
MODEL="${MODEL_FILE:-/openfga/model.json}"

# The value of a top-level string field of a one-line JSON document on stdin.
json_field() {
  sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}

store=$(curl -fsS -X POST "$FGA/stores" -H 'content-type: application/json' \
  -d '{"name":"mizuchi-uploadr"}' | json_field id)
[ -n "$store" ] || { echo "could not create an OpenFGA store" >&2; exit 1; }

model=$(curl -fsS -X POST "$FGA/stores/$store/authorization-models" \
  -H 'content-type: application/json' -d @"$MODEL" | json_field authorization_model_id)
[ -n "$model" ] || { echo "could not write the authorization model" >&2; exit 1; }

curl -fsS -X POST "$FGA/stores/$store/write" -H 'content-type: application/json' -d @- >/dev/null <<JSON
{
  "authorization_model_id": "$model",
  "writes": {
    "tuple_keys": [
      { "user": "user:alice", "relation": "editor", "object": "bucket:fga" },
      { "user": "user:bob", "relation": "editor", "object": "folder:fga/bob/" }
    ]
  }
}
JSON

printf 'MIZUCHI_OPENFGA_STORE_ID=%s\nMIZUCHI_OPENFGA_MODEL_ID=%s\n' "$store" "$model" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "OpenFGA store $store, model $model"
