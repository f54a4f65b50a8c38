# paho-mqtt's loop_start() program, the one examples/loop_start.rs writes with umqtt: the
# network runs in a background thread (on connect it announces itself, on message it
# prints), while the main thread publishes a reading every 500 ms; then it checks that the
# ten readings came back. `python3 examples/loop_start.py mqtt://127.0.0.1:1883`
import sys, threading, time
from urllib.parse import urlparse
import paho.mqtt.client as mqtt

url = urlparse(sys.argv[1])
readings = 0
subscribed = threading.Event()  # publish once the subscription is on its way
def on_connect(client, userdata, flags, rc):
    print("on_connect")
    client.publish("sensors/status", "online", qos=1, retain=True)
    client.subscribe("sensors/#", qos=1)
    subscribed.set()
def on_message(client, userdata, msg):
    global readings
    print("on_message", msg.topic, msg.payload.decode())
    if msg.topic == "sensors/temp":
        readings += 1
client = mqtt.Client("loop-start")
client.on_connect = on_connect
client.on_message = on_message
client.connect(url.hostname, url.port or 1883)
client.loop_start()
subscribed.wait()
for i in range(10):
    client.publish("sensors/temp", f"{20 + i / 10:.1f}", qos=1)
    time.sleep(0.5)
client.disconnect()
client.loop_stop()
print(f"received {readings} readings back")
sys.exit(0 if readings == 10 else f"{readings} readings of 10")
