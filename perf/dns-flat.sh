#!/usr/bin/env bash
# The issue's name for the DNS scenario: tribune vs NSD, A and SRV, 10 and 5,000 instances.
exec "$(dirname "$0")/dns-vs-nsd.sh" "$@"
