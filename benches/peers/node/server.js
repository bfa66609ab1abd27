// Reference server for `scripts/bench load`: what MicroCoaster's real-time API looks like
// written idiomatically on Node 20 + socket.io 4.8.4, speaking the same wire protocol and
// HTTP API as `examples/server.rs` so the load generator drives both unchanged.
//
// - Auth at connection: `socket.handshake.auth.token`, a JWT HS256 (claims sub, role,
//   sid, exp) verified with node:crypto; `auth.page` picks the page (default `modules`).
// - Rooms: `user:<id>` (every connection of that user) and `admins` (admins on the
//   `admin` page). One `io.to(room).emit(...)` per event.
// - HTTP API: `POST /api/v1/emit/<call>` with `Authorization: Bearer <api key>`, the
//   bodies and answers of DESIGN §9 for the calls the benchmark uses: to_admins,
//   admin_action, maintenance_mode, module_added, module_online, telemetry_update.
//
// - In-process emits (`loadgen --emit in-process`): one JSON command per line on stdin,
//   paced and marked by the rules of examples/bench_server/command.rs (shared by the two
//   Rust servers): `bench:user` to `user:u<n>`, `bench:admin` to `admins`,
//   `system:maintenance` to everyone, each made inside this process.
//
// Usage: node server.js [--addr 127.0.0.1:3000] [--jwt-secret S] [--api-key K]
// (or MCRT_ADDR, MCRT_JWT_SECRET, MCRT_API_KEY); other flags of the Rust server
// (--db, --threads, --max-connections) are accepted and ignored.
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { Server } = require("socket.io");

function parseArgs(argv) {
  const options = {
    addr: process.env.MCRT_ADDR || "127.0.0.1:3000",
    jwtSecret: process.env.MCRT_JWT_SECRET || "",
    apiKey: process.env.MCRT_API_KEY || "",
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--addr") options.addr = value;
    else if (flag === "--port") options.addr = `127.0.0.1:${value}`;
    else if (flag === "--jwt-secret") options.jwtSecret = value;
    else if (flag === "--api-key") options.apiKey = value;
    else if (["--db", "--threads", "--max-connections"].includes(flag)) {
      // Flags of the Rust server that have no meaning here.
    } else {
      console.error(`unknown flag ${flag}`);
      process.exit(2);
    }
    i++;
  }
  if (!options.jwtSecret || !options.apiKey) {
    console.error("--jwt-secret and --api-key are required");
    process.exit(2);
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const secret = Buffer.from(options.jwtSecret, "utf8");
const apiKey = Buffer.from(options.apiKey, "utf8");

/** Verifies an HS256 JWT; returns its claims or null. */
function verifyJwt(token) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    if (header.alg !== "HS256") return null;
    const expected = crypto
      .createHmac("sha256", secret)
      .update(`${parts[0]}.${parts[1]}`)
      .digest();
    const given = Buffer.from(parts[2], "base64url");
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      return null;
    }
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    if (typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now()) return null;
    if (claims.role !== "user" && claims.role !== "admin") return null;
    return claims;
  } catch {
    return null;
  }
}

// State: the modules (owner, online) so telemetry can be routed by module id and a
// module already online going online again emits nothing.
const modules = new Map(); // moduleId -> {moduleId, userId, name, type, online, telemetry}
const maintenance = { enabled: false, message: "" };

const httpServer = http.createServer(handleHttp);
// The emit API is an internal port that a backend drives over long-lived keep-alive
// connections (pipelined by the load generator): no idle timeout, as with hyper. With
// the default 5 s, an event loop more than 5 s behind resets connections with queued
// requests.
httpServer.keepAliveTimeout = 0;
const io = new Server(httpServer, { serveClient: false });

io.use((socket, next) => {
  const auth = socket.handshake.auth || {};
  const claims = verifyJwt(auth.token);
  if (!claims) return next(new Error("invalid_token"));
  socket.data.userId = String(claims.sub);
  socket.data.role = claims.role;
  socket.data.sessionId = claims.sid ?? null;
  socket.data.page = typeof auth.page === "string" ? auth.page : "modules";
  next();
});

io.on("connection", (socket) => {
  const { userId, role, sessionId, page } = socket.data;
  socket.join(`user:${userId}`);
  const isAdminPage = role === "admin" && page === "admin";
  if (isAdminPage) socket.join("admins");
  const now = Date.now();
  socket.emit("auth:ok", { userId, role, sessionId, page, timestamp: now });
  const visible = [];
  for (const module of modules.values()) {
    if (isAdminPage || module.userId === userId) visible.push(module);
  }
  socket.emit("page:snapshot", { page, modules: visible, timestamp: now });
  if (maintenance.enabled) {
    socket.emit("system:maintenance", { ...maintenance, timestamp: now });
  }
});

function roomSize(room) {
  return io.sockets.adapter.rooms.get(room)?.size ?? 0;
}

function reached(rooms) {
  if (rooms.length === 1) return roomSize(rooms[0]);
  const union = new Set();
  for (const room of rooms) {
    for (const id of io.sockets.adapter.rooms.get(room) ?? []) union.add(id);
  }
  return union.size;
}

const delivered = (connections) => ({ outcome: "delivered", connections });
const unchanged = { outcome: "unchanged" };

class BadInput extends Error {}

function text(body, field) {
  const value = body[field];
  if (typeof value === "string" && value.length > 0) return value;
  if (typeof value === "number" && Number.isInteger(value)) return String(value);
  throw new BadInput(`${field}: expected a string`);
}

const calls = {
  to_admins(body) {
    const event = text(body, "event");
    const data = body.data && typeof body.data === "object" ? { ...body.data, timestamp: Date.now() } : body.data;
    io.to("admins").emit(event, data);
    return delivered(roomSize("admins"));
  },
  admin_action(body) {
    const payload = {
      adminId: text(body, "adminId"),
      action: text(body, "action"),
      details: body.details ?? null,
      timestamp: Date.now(),
    };
    io.to("admins").emit("admin:action", payload);
    return delivered(roomSize("admins"));
  },
  maintenance_mode(body) {
    if (typeof body.enabled !== "boolean") throw new BadInput("enabled: expected a boolean");
    const message = typeof body.message === "string" ? body.message : "";
    if (maintenance.enabled === body.enabled && maintenance.message === message) return unchanged;
    maintenance.enabled = body.enabled;
    maintenance.message = message;
    const payload = { enabled: body.enabled, message, adminId: text(body, "adminId"), timestamp: Date.now() };
    io.emit("system:maintenance", payload);
    return delivered(io.engine.clientsCount);
  },
  module_added(body) {
    const moduleId = body.moduleId !== undefined ? text(body, "moduleId") : text(body, "id");
    if (modules.has(moduleId)) return unchanged;
    const module = {
      moduleId,
      userId: text(body, "userId"),
      name: body.name ?? null,
      type: body.type ?? null,
      online: body.online === true,
      telemetry: null,
      lastChange: Date.now(),
    };
    modules.set(moduleId, module);
    const now = Date.now();
    io.to(`user:${module.userId}`).emit("user:module:added", { module, timestamp: now });
    io.to("admins").emit("admin:module:added", { module, timestamp: now });
    return delivered(roomSize(`user:${module.userId}`) + roomSize("admins"));
  },
  module_online(body) {
    const moduleId = text(body, "moduleId");
    let module = modules.get(moduleId);
    if (module && module.online) return unchanged;
    if (!module) {
      module = { moduleId, userId: text(body, "userId"), name: body.name ?? null, type: body.type ?? null, online: false, telemetry: null };
      modules.set(moduleId, module);
    }
    module.online = true;
    module.lastChange = Date.now();
    const rooms = [`user:${module.userId}`, "admins"];
    io.to(rooms).emit("module:status:changed", {
      moduleId,
      online: true,
      userId: module.userId,
      name: module.name,
      type: module.type,
      lastChange: module.lastChange,
      timestamp: module.lastChange,
    });
    return delivered(reached(rooms));
  },
  telemetry_update(body) {
    const moduleId = text(body, "moduleId");
    const module = modules.get(moduleId);
    if (!module) throw new BadInput(`unknown module ${moduleId}`);
    module.telemetry = body.telemetry;
    const room = `user:${module.userId}`;
    io.to(room).emit("module:telemetry:updated", { moduleId, telemetry: body.telemetry, timestamp: Date.now() });
    return delivered(roomSize(room));
  },
};

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

const PREFIX = "/api/v1/emit/";

function authorized(req) {
  const header = req.headers.authorization || "";
  if (!header.startsWith("Bearer ")) return false;
  const given = Buffer.from(header.slice(7), "utf8");
  return given.length === apiKey.length && crypto.timingSafeEqual(given, apiKey);
}

function handleHttp(req, res) {
  // socket.io answers its own path before this handler runs.
  if (!req.url.startsWith(PREFIX)) return send(res, 404, { error: { code: "not_found", message: "not found" } });
  if (req.method !== "POST") return send(res, 405, { error: { code: "method_not_allowed", message: "use POST" } });
  if (!authorized(req)) {
    return send(res, 401, { error: { code: "unauthorized", message: "a valid Authorization: Bearer <api key> is required" } });
  }
  const call = calls[req.url.slice(PREFIX.length)];
  if (!call) return send(res, 404, { error: { code: "unknown_call", message: "no such emit call" } });
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (error) {
      return send(res, 400, { error: { code: "invalid_json", message: error.message } });
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      return send(res, 400, { error: { code: "invalid_argument", message: "the body must be a JSON object" } });
    }
    try {
      send(res, 200, call(body));
    } catch (error) {
      if (error instanceof BadInput) return send(res, 400, { error: { code: "invalid_argument", message: error.message } });
      throw error;
    }
  });
}

// ---- In-process emit mode (the emitter inside this process, paced like the others) ----

/** Microseconds since the Unix epoch, with sub-millisecond precision. */
function nowUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function benchEmit(command, seq) {
  const sentAt = nowUs();
  const timestamp = Math.floor(sentAt / 1000);
  if (command.kind === "user") {
    io.to(`user:u${seq % Math.max(command.users, 1)}`).emit("bench:user", { seq, sentAt, timestamp });
  } else if (command.kind === "admin") {
    io.to("admins").emit("bench:admin", { seq, sentAt, timestamp });
  } else if (command.kind === "all") {
    const message = `bench ${seq} ${sentAt}`;
    maintenance.enabled = seq % 2 === 0;
    maintenance.message = message;
    io.emit("system:maintenance", { enabled: maintenance.enabled, message, adminId: "admin-0", timestamp });
  }
}

function recipientsOf(command) {
  if (command.kind === "user") return 2;
  if (command.kind === "admin") return Math.max(roomSize("admins"), 1);
  return Math.max(io.engine.clientsCount, 1);
}

/** Runs one command: `rate` events/s checked every millisecond, or a burst of `count`. */
function runCommand(command, done) {
  const started = performance.now();
  const base = command.base || 0;
  const count = command.count ?? Infinity;
  const limitMs = command.duration != null ? command.duration * 1000 : Infinity;
  let sent = 0;
  const finish = () => done(sent, 0, (performance.now() - started) / 1000);
  if (command.kind === "login") return finish();
  if (!(command.rate > 0)) {
    // A burst: as fast as the event loop allows. The loop yields after about a
    // thousand deliveries so socket.io can flush what it buffered (its websocket
    // transport writes one packet per turn of the loop while a write is pending).
    const total = command.count || 0;
    const batch = Math.max(1, Math.round(1000 / recipientsOf(command)));
    const step = () => {
      const end = Math.min(total, sent + batch);
      for (; sent < end; sent++) benchEmit(command, base + sent);
      if (sent < total) setImmediate(step);
      else finish();
    };
    return step();
  }
  const tick = () => {
    const elapsed = performance.now() - started;
    if (elapsed >= limitMs || sent >= count) return finish();
    const due = Math.min(count, Math.ceil((elapsed / 1000) * command.rate));
    for (; sent < due; sent++) benchEmit(command, base + sent);
    setTimeout(tick, 1);
  };
  tick();
}

{
  const lines = require("node:readline").createInterface({ input: process.stdin });
  const queue = [];
  let running = false;
  const next = () => {
    if (running || queue.length === 0) return;
    running = true;
    const line = queue.shift();
    let command;
    try {
      command = JSON.parse(line);
    } catch (error) {
      console.error(`bad bench command ${line}: ${error.message}`);
      process.stdout.write('bench-done {"emitted":0,"errors":1,"seconds":0}\n');
      running = false;
      return next();
    }
    runCommand(command, (emitted, errors, seconds) => {
      process.stdout.write(`bench-done ${JSON.stringify({ emitted, errors, seconds })}\n`);
      running = false;
      next();
    });
  };
  lines.on("line", (line) => {
    queue.push(line);
    next();
  });
}

const separator = options.addr.lastIndexOf(":");
const host = options.addr.slice(0, separator);
const port = Number(options.addr.slice(separator + 1));
httpServer.listen({ host, port, backlog: 4096 }, () => {
  const address = httpServer.address();
  console.log(`node reference (socket.io 4.8.4) listening on http://${address.address}:${address.port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
