#!/usr/bin/env bash
echo "scripts/deploy.sh: not written yet (issue 5)"; exit 1
