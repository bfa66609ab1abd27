'use strict';
// One backend of the two-backend suite (cluster.test.js), in its own process: the seed
// app in attach mode (its own socket.io server) with the options given as JSON in
// argv[2] (`redis`, `nodeId`, ...). A test-only route, POST /test/emit
// {method, args}, calls a RealTimeAPI emit and answers its outcome. Prints
// {"url": ...} on stdout once listening.

const { startSeedApp } = require('./seed-app');

async function main() {
  const seed = await startSeedApp(JSON.parse(process.argv[2] || '{}'));
  seed.app.post('/test/emit', (req, res) => {
    const { method, args } = req.body;
    try {
      res.json({ result: seed.realTimeAPI[method](...args) ?? null });
    } catch (error) {
      res.status(500).json({ error: String(error) });
    }
  });
  process.stdout.write(`${JSON.stringify({ url: seed.url })}\n`);
  process.on('SIGTERM', async () => {
    await seed.close();
    process.exit(0);
  });
}

main().catch((error) => {
  process.stderr.write(`seed-node: ${error.stack}\n`);
  process.exit(1);
});
