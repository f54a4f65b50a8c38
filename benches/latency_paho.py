"""Round trips publish -> own subscription with paho-mqtt (Python), for benches/latency.rs.

Usage: python3 latency_paho.py PORT QOS TRIPS. Prints "p50 p99" in microseconds. The
network loop runs in paho's thread (loop_start); the main thread waits on an Event.
"""
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, qos, trips = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
topic = f"lat/paho/{qos}"
got = threading.Event()
subscribed = threading.Event()
try:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lat-paho")
except AttributeError:  # paho-mqtt 1.x
    client = mqtt.Client(client_id="lat-paho")
client.on_message = lambda c, u, m: got.set()
client.on_subscribe = lambda *a: subscribed.set()
client.connect("127.0.0.1", port)
client.loop_start()
client.subscribe(topic, qos)
subscribed.wait(10)
payload = b"x" * 64
samples = []
for _ in range(trips):
    got.clear()
    t = time.perf_counter()
    client.publish(topic, payload, qos)
    if not got.wait(10):
        sys.exit("no message")
    samples.append(time.perf_counter() - t)
client.disconnect()
client.loop_stop()
samples.sort()
print(f"{samples[len(samples) // 2] * 1e6:.1f} {samples[len(samples) * 99 // 100] * 1e6:.1f}")
