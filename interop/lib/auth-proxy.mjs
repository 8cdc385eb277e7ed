// A loopback reverse proxy that adds `Authorization: Bearer <token>` to every request: the
// conformance suite's server mode sends no credentials, and the gateway admits none without
// them. Everything else passes through untouched — method, Host, Origin, session and protocol
// headers, status, and bodies streamed both ways (SSE responses are piped as they arrive, never
// buffered) — so what the suite measures is the gateway, not this proxy. Requests to any path
// go to `targetPath` (the suite is pointed at `/mcp` here).
import http from 'node:http';

export function startAuthProxy({ targetPort, targetPath, token }) {
  const server = http.createServer((request, response) => {
    const headers = { ...request.headers, authorization: `Bearer ${token}` };
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, method: request.method, path: targetPath, headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        response.flushHeaders();
        answer.pipe(response);
      },
    );
    upstream.on('error', (error) => {
      if (!response.headersSent) {
        response.writeHead(502, { 'content-type': 'text/plain' });
      }
      response.end(`interop auth proxy: upstream error: ${error.message}`);
    });
    // A client that goes away (the suite cancels SSE readers) ends the upstream request too.
    response.on('close', () => upstream.destroy());
    request.pipe(upstream);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const close = () => {
        server.close();
        server.closeAllConnections();
      };
      resolve({ port: server.address().port, close });
    });
  });
}
