#!/usr/bin/env bash
# Renders the voice prompts listed in LANG/prompts.txt into LANG/NAME.wav
# (8 kHz, mono, 16-bit PCM) with espeak-ng and sox. The results are committed
# so the binary carries its prompts and needs neither tool at run time.
# Usage: embed/prompts/generate.sh [LANG]   (needs: apt-get install espeak-ng sox)
set -euo pipefail
cd "$(dirname "$0")"
lang=${1:-en}
voice=${VOICE:-en-us}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while IFS='|' read -r name text; do
	case "$name" in ''|'#'*) continue ;; esac
	espeak-ng -v "$voice" -s 150 -w "$tmp/$name.wav" "$text"
	# Trim leading/trailing silence so joined words flow, then 8 kHz mono 16-bit;
	# -D (no dither) keeps the output identical from run to run.
	sox -D "$tmp/$name.wav" -r 8000 -c 1 -b 16 -e signed-integer "$lang/$name.wav" \
		silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3
done < "$lang/prompts.txt"
echo "rendered $(ls "$lang"/*.wav | wc -l) prompts into $lang/"
