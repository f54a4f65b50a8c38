# The CLI over mutual TLS to mosquitto; certificates made here with openssl (nothing committed).
set -euo pipefail
cli=${cli:-target/debug/examples/umqtt}
mosquitto_bin=${mosquitto_bin:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
pki=$(mktemp -d)
(
  cd "$pki"
  mk_ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
              -subj "/CN=$1" -keyout "$1.key" -out "$1.pem" 2>/dev/null; }
  mk_ca ca; mk_ca other
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
  for who in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$who" \
      -keyout "$who.key" -out "$who.csr" 2>/dev/null
    openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile san.ext -out "$who.pem" 2>/dev/null
  done
)
tlsconf=$pki/mosquitto.conf
printf 'listener 18884 127.0.0.1\ncafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\nrequire_certificate true\nallow_anonymous true\nuser root\nlog_dest file %s/log\nlog_type all\n' \
  "$pki" "$pki" "$pki" "$pki" > "$tlsconf"
"$mosquitto_bin" -c "$tlsconf" >/dev/null 2>&1 & tlsmosq=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/18884) 2>/dev/null && break; sleep 0.1; done
tls_out=$(mktemp)
timeout 30 mosquitto_sub -h localhost -p 18884 --cafile "$pki/ca.pem" --cert "$pki/client.pem" \
  --key "$pki/client.key" -t tls/t -C 1 > "$tls_out" & sub=$!
sleep 0.5
"$cli" pub -h localhost -p 18884 --cafile "$pki/ca.pem" --cert "$pki/client.pem" \
  --key "$pki/client.key" -t tls/t -m "over mutual TLS" -q 1
wait "$sub"
[ "$(cat "$tls_out")" = "over mutual TLS" ]
echo "umqtt pub over mutual TLS reached mosquitto_sub"
connects=$(grep -c "New client connected" "$pki/log" || true)
if msg=$("$cli" pub -h localhost -p 18884 --cafile "$pki/other.pem" --cert "$pki/client.pem" \
    --key "$pki/client.key" -t tls/t -m x 2>&1); then
  echo "a broker certified by another CA must be refused"; exit 1
fi
echo "refused: $msg"
echo "$msg" | grep -q "not trusted"
[ "$(grep -c "New client connected" "$pki/log" || true)" = "$connects" ] || { echo "a CONNECT reached the broker"; exit 1; }
kill "$tlsmosq"; wait "$tlsmosq" || true
