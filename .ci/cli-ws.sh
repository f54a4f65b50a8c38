# The CLI over WebSocket to mosquitto (ws:// and wss://, libwebsockets built into Debian's
# mosquitto): 1,000 QoS 1 messages from mosquitto_pub on the TCP listener reach `umqtt sub -L
# ws://`, 20,000 lines from `umqtt pub -L ws://` reach mosquitto_sub in order at QoS 2, the
# same over wss:// with --cafile, and a wrong CA is refused before any MQTT byte. A
# WebSocket listener binds every interface unless it also says socket_domain ipv4 (and the
# TCP listener must be there too: a config with only a WebSocket listener does not start).
set -euo pipefail
cli=${cli:-target/debug/examples/umqtt}
mosquitto_bin=${mosquitto_bin:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
dir=$(mktemp -d)
(
  cd "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ca" \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=other" \
    -keyout other.key -out other.pem 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=server" \
    -keyout server.key -out server.csr 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out server.pem 2>/dev/null
)
cat > "$dir/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
user root
max_queued_messages 0
log_dest file $dir/log
log_type all
listener 18890 127.0.0.1
listener 18891 127.0.0.1
protocol websockets
socket_domain ipv4
listener 18892 127.0.0.1
protocol websockets
socket_domain ipv4
cafile $dir/ca.pem
certfile $dir/server.pem
keyfile $dir/server.key
CONF
"$mosquitto_bin" -c "$dir/mosquitto.conf" >/dev/null 2>&1 & wsmosq=$!
trap 'kill "$wsmosq" 2>/dev/null || true' EXIT  # the ports are free for what follows, pass or fail
for _ in $(seq 50); do "$cli" pub -L ws://127.0.0.1:18891/ -t probe -n 2>/dev/null && break; sleep 0.1; done
out=$(mktemp); lines=$(mktemp)

# 1,000 QoS 1 messages, published on TCP, received over WebSocket. The persistent session
# subscribes first (-C 0), so the messages queue for it: no race.
"$cli" sub -L ws://127.0.0.1:18891/ -c -i ws-sub -q 1 -t ws/in -C 0
seq 1 1000 > "$lines"
mosquitto_pub -p 18890 -q 1 -t ws/in -l < "$lines"
timeout 60 "$cli" sub -L ws://127.0.0.1:18891/ -c -i ws-sub -q 1 -t ws/in -C 1000 > "$out"
cmp "$lines" "$out"
echo "ws://: umqtt sub received 1000 QoS 1 messages from mosquitto_pub"

# 20,000 lines at QoS 2 over ws:// and wss://, into mosquitto_sub on the TCP listener.
seq 1 20000 > "$lines"
ws_lines() { # NAME URL [TLS flags]: 20,000 lines from umqtt pub -L URL, compared in order
  local name=$1 url=$2; shift 2
  mosquitto_sub -p 18890 -c -i "ws-$name" -t "ws/$name" -q 2 -E
  timeout 120 mosquitto_sub -p 18890 -c -i "ws-$name" -t "ws/$name" -q 2 -C 20000 > "$out" & sub=$!
  timeout 120 "$cli" pub -L "$url" "$@" -t "ws/$name" -q 2 -l < "$lines"
  wait "$sub"
  cmp "$lines" "$out"
  echo "$url: 20000 lines delivered in order at QoS 2"
}
ws_lines ws ws://127.0.0.1:18891/
ws_lines wss wss://localhost:18892/ --cafile "$dir/ca.pem"

# A broker certified by another CA: refused in the TLS handshake, so mosquitto never sees
# an MQTT CONNECT from it.
connects=$(grep -c "New client connected" "$dir/log" || true)
if msg=$("$cli" pub -L wss://localhost:18892/ --cafile "$dir/other.pem" -t ws/x -m x 2>&1); then
  echo "a broker certified by another CA must be refused"; exit 1
fi
echo "refused: $msg"
echo "$msg" | grep -q "not trusted"
[ "$(grep -c "New client connected" "$dir/log" || true)" = "$connects" ] || { echo "a CONNECT reached the broker"; exit 1; }

# TLS flags with only plain URLs are a mistake, said, not ignored.
if "$cli" pub -L mqtt://127.0.0.1:18890 --cafile "$dir/ca.pem" -t ws/x -m x 2>/dev/null; then
  echo "--cafile with an mqtt:// URL must be refused"; exit 1
fi

# Failover: the first URL refuses, the second is the broker.
"$cli" pub -L mqtt://127.0.0.1:1 -L mqtt://127.0.0.1:18890 -t ws/failover -m x
echo "failover: -L mqtt://127.0.0.1:1 -L mqtt://127.0.0.1:18890 published"
kill "$wsmosq"; wait "$wsmosq" || true
