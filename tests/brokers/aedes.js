// aedes (npm) on 127.0.0.1:<port>, for tests/broker_matrix.rs: `node aedes.js PORT [USERS_JSON
// [WS_PORT]]` with `aedes` installed globally (NODE_PATH = `npm root -g`). With USERS_JSON
// ({"user": "password"}) other credentials and anonymous clients are refused (CONNACK 4).
// With WS_PORT, MQTT over WebSocket too (`websocket-stream`, npm) on 127.0.0.1:WS_PORT.
const port = Number(process.argv[2]);
const users = process.argv[3] ? JSON.parse(process.argv[3]) : null;
const wsPort = process.argv[4] ? Number(process.argv[4]) : null;
const aedes = require('aedes')();
if (users) {
  aedes.authenticate = (client, username, password, done) => {
    const ok = username !== undefined && users[username] === (password ? password.toString() : undefined);
    if (ok) return done(null, true);
    const err = new Error('bad user name or password'); err.returnCode = 4; done(err, null);
  };
}
require('net').createServer(aedes.handle).listen(port, '127.0.0.1', () => console.log('listening ' + port));
if (wsPort) {
  const http = require('http').createServer();
  require('websocket-stream').createServer({ server: http }, aedes.handle);
  http.listen(wsPort, '127.0.0.1');
}
