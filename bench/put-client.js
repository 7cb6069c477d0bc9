// A keep-alive client for the bench shell scripts: N PUTs of 4 KiB to /bench/k over C connections
// (8 unless given), each sent as soon as the connection's previous answer has ended.
//   node bench/put-client.js PORT N [C]
const http = require('http');
const [port, n, c = 8] = process.argv.slice(2).map(Number);
const body = Buffer.alloc(4096, 7);
const agent = new http.Agent({ keepAlive: true, maxSockets: c });
let sent = 0,
  done = 0,
  failed = 0;
function one() {
  if (sent >= n) return;
  sent++;
  const req = http.request(
    {
      port,
      host: '127.0.0.1',
      method: 'PUT',
      path: '/bench/k',
      agent,
      headers: { 'content-length': body.length },
    },
    (res) => {
      if (res.statusCode !== 200) failed++;
      res.resume();
      res.on('end', () => {
        if (++done === n) {
          agent.destroy();
          if (failed > 0) {
            console.error(`${failed} of ${n} PUTs failed`);
            process.exit(1);
          }
        } else one();
      });
    },
  );
  req.end(body);
}
for (let i = 0; i < c; i++) one();
