// Preloaded with `node -r` into servers that bind every interface (server-everything, the
// Inspector's helpers): any TCP listen() is forced onto 127.0.0.1, so the harness never opens a
// port beyond loopback. Unix-socket and handle listens pass through untouched. Once bound, it
// prints `LISTENING <port>` on stdout, as the project's Rust fixtures do, so a harness can start
// the server on port 0 and learn the real port without a race.
'use strict';
const net = require('node:net');

const LOOPBACK = '127.0.0.1';

// With INTEROP_EXIT_ON_STDIN_EOF=1 the server exits when its parent closes stdin or dies, as the
// Rust fixtures do, so a killed harness leaves no server behind.
if (process.env.INTEROP_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
const originalListen = net.Server.prototype.listen;

function announce(server) {
  server.once('listening', () => {
    const address = server.address();
    if (address && typeof address === 'object') {
      process.stdout.write(`LISTENING ${address.port}\n`);
    }
  });
  return server;
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const callback = args.find((arg) => typeof arg === 'function');
  const first = args[0];
  const isPort = (value) =>
    typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
  if (args.length === 0 || first === callback) {
    return originalListen.call(announce(this), { port: 0, host: LOOPBACK }, callback);
  }
  if (isPort(first)) {
    return originalListen.call(announce(this), { port: Number(first), host: LOOPBACK }, callback);
  }
  if (first && typeof first === 'object' && !first.path && !first._handle && !first.fd
      && (first.port !== undefined || first.host !== undefined)) {
    return originalListen.call(announce(this), { ...first, host: LOOPBACK }, callback);
  }
  return originalListen.apply(this, args);
};
