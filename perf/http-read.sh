#!/usr/bin/env bash
# The issue's name for the HTTP read scenario: KV GET vs nginx's fixed response, then health
# queries as instances grow.
"$(dirname "$0")/kv-get-vs-nginx.sh" "$@"
exec "$(dirname "$0")/health-service-scale.sh"
