#!/usr/bin/env bash
echo "scripts/build.sh: not written yet (issue 5)"; exit 1
