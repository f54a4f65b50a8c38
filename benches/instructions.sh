#!/usr/bin/env bash
# Instructions per operation (callgrind's total with N operations minus with none, over N):
# umqtt next to mqttrs and a copy of the payload. Needs valgrind.
#   bash benches/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench instructions --no-run 2>/dev/null
bin=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -1)
n=100000
count() { # op impl case n -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per() { # op impl case
  local base full
  base=$(count "$1" "$2" "$3" 0)
  full=$(count "$1" "$2" "$3" "$n")
  echo $(( (full - base) / n ))
}
echo "| operation | umqtt | mqttrs | copy of the payload | umqtt / mqttrs |"
echo "|---|---:|---:|---:|---:|"
for row in "decode connect_will_login" "decode publish_qos0_64B" "decode publish_qos1_1024B" \
           "encode publish_qos0_1024B" "encode publish_qos1_64B"; do
  set -- $row
  u=$(per "$1" umqtt "$2"); m=$(per "$1" mqttrs "$2")
  c="–"; [[ $2 == publish* ]] && c=$(per "$1" copy "$2")
  echo "| $1 $2 | $u | $m | $c | $(python3 -c "print(f'{$u/$m:.2f}')") |"
done
