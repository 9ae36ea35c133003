#!/bin/sh
# Registers the namespace the app runs in once the server answers (the plain server image,
# unlike the retired auto-setup one, creates none). Its retention bounds how long closed
# workflows (every action's history) stay visible in the UI.
set -eu

until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  echo "waiting for Temporal at $TEMPORAL_ADDRESS"
  sleep 2
done
if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION" \
    --address "$TEMPORAL_ADDRESS"
fi
