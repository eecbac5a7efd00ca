// Salon's signaling connection as the browser makes it: a Socket.IO v5 client (Engine.IO v4
// protocol) of exactly what Salon's signaling uses — one namespace, JSON events, events with
// acknowledgements, no binary. It goes over WebSocket, or over HTTPS long-polling where a
// WebSocket cannot open (a proxy or firewall that blocks it), and moves up to WebSocket when it
// can. It reconnects with backoff; what a reconnect means for the room (resuming the session)
// is salon-client.js's business.
//
// It imports nothing: a room page opens its WebSocket in a small inline script before any
// module has loaded (templates/room-boot.js), and the first SignalSocket adopts it
// (takeEarlySocket), so the join does not wait for the modules and a new TLS connection. A page
// that joins at once sends its join there too; the app takes its answer (takeEarlyRequest).
//
//   const socket = new SignalSocket("https://salon.example", { auth: { v: 1 } });
//   socket.on("connect", () => socket.request("join", {...}, 15_000).then(...));
//   socket.on("participant_joined", (payload) => ...);
//   socket.connect();

export const PATH = "/socket.io/";

/** Engine.IO packet types (the first character of a packet). */
const ENGINE = { OPEN: "0", CLOSE: "1", PING: "2", PONG: "3", MESSAGE: "4", UPGRADE: "5", NOOP: "6" };
/** Socket.IO packet types (the first character of an Engine.IO message). */
const SOCKET = { CONNECT: "0", DISCONNECT: "1", EVENT: "2", ACK: "3", CONNECT_ERROR: "4" };
/** Packets in one long-polling body are joined by the record separator. */
const SEPARATOR = "\x1e";
/** Events of the socket itself: a server event of the same name is not passed on. */
const RESERVED = new Set(["connect", "disconnect", "connect_error", "upgrade"]);

export class ProtocolError extends Error {}

// --- the protocol, pure ------------------------------------------------------------------------

/**
 * One Engine.IO packet.
 * @param {string} text
 * @returns {{type: string, data: string}}
 */
export function decodeEnginePacket(text) {
  const type = text.charAt(0);
  if (!Object.values(ENGINE).includes(type)) {
    throw new ProtocolError(`not an Engine.IO packet: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return { type, data: text.slice(1) };
}

/**
 * The packets of one long-polling response body.
 * @param {string} body
 */
export function decodePayload(body) {
  return body.split(SEPARATOR).map(decodeEnginePacket);
}

/**
 * The server's handshake (the data of an OPEN packet), checked.
 * @param {string} data
 * @returns {{sid: string, upgrades: string[], pingInterval: number, pingTimeout: number, maxPayload: number}}
 */
export function decodeHandshake(data) {
  let h;
  try {
    h = JSON.parse(data);
  } catch {
    throw new ProtocolError("the handshake is not JSON");
  }
  const positive = (/** @type {unknown} */ n) => typeof n === "number" && Number.isFinite(n) && n > 0;
  if (!h || typeof h.sid !== "string" || !h.sid || !positive(h.pingInterval) ||
      !positive(h.pingTimeout)) {
    throw new ProtocolError("the handshake lacks sid, pingInterval or pingTimeout");
  }
  return {
    sid: h.sid,
    upgrades: Array.isArray(h.upgrades) ? h.upgrades.filter((u) => typeof u === "string") : [],
    pingInterval: h.pingInterval,
    pingTimeout: h.pingTimeout,
    maxPayload: positive(h.maxPayload) ? h.maxPayload : 1_000_000,
  };
}

/**
 * One Socket.IO packet (the data of an Engine.IO MESSAGE) of the main namespace; packets of
 * other namespaces give null.
 * @param {string} text
 * @returns {{type: string, id: number | null, data: any} | null}
 */
export function decodeSocketPacket(text) {
  const type = text.charAt(0);
  if (!Object.values(SOCKET).includes(type)) {
    throw new ProtocolError(`not a Socket.IO packet: ${JSON.stringify(text.slice(0, 40))}`);
  }
  let rest = text.slice(1);
  if (rest.startsWith("/")) {
    const comma = rest.indexOf(",");
    const nsp = comma < 0 ? rest : rest.slice(0, comma);
    if (nsp !== "/") return null;
    rest = comma < 0 ? "" : rest.slice(comma + 1);
  }
  const digits = /^\d{1,15}/.exec(rest)?.[0] ?? "";
  const id = digits ? Number(digits) : null;
  rest = rest.slice(digits.length);
  let data = null;
  if (rest) {
    try {
      data = JSON.parse(rest);
    } catch {
      throw new ProtocolError(`a Socket.IO packet of type ${type} carries no JSON`);
    }
  }
  if ((type === SOCKET.EVENT || type === SOCKET.ACK) && !Array.isArray(data)) {
    throw new ProtocolError(`a Socket.IO packet of type ${type} carries no array`);
  }
  if (type === SOCKET.EVENT && typeof data[0] !== "string") {
    throw new ProtocolError("a Socket.IO event has no name");
  }
  return { type, id, data };
}

/**
 * An event to send, as an Engine.IO packet.
 * @param {string} event
 * @param {unknown} payload
 * @param {number | null} [id] asks for an acknowledgement
 */
export function encodeEvent(event, payload, id = null) {
  return ENGINE.MESSAGE + SOCKET.EVENT + (id ?? "") + JSON.stringify([event, payload]);
}

/**
 * How long to wait before reconnect attempt `attempt` (0, 1, …): doubling from `min` up to
 * `max`, spread by ±`jitter` so that clients cut off together do not come back together.
 * @param {number} attempt
 * @param {{min: number, max: number, jitter?: number, random?: number}} how
 */
export function backoff(attempt, { min, max, jitter = 0.5, random = Math.random() }) {
  const base = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random - 1))));
}

/**
 * The WebSocket URL of Salon's signaling at `serverUrl` ("" for this page's own server).
 * @param {string} serverUrl
 * @param {Record<string, string>} [query]
 */
export function socketUrl(serverUrl, query = {}) {
  const url = httpUrl(serverUrl, { ...query, transport: "websocket" });
  return url.replace(/^http/, "ws");
}

/**
 * @param {string} serverUrl
 * @param {Record<string, string>} query
 */
function httpUrl(serverUrl, query) {
  const base = serverUrl || globalThis.location?.origin;
  const url = new URL(PATH, base);
  url.search = new URLSearchParams({ EIO: "4", ...query }).toString();
  return url.href;
}

/**
 * @typedef {{id: number, event: string, payload: any}} EarlyRequest
 * @typedef {{ws: WebSocket, queue: string[], failed: boolean, auth: string,
 *   connectSent?: boolean, requests?: EarlyRequest[]}} EarlySocket
 * A WebSocket a room page opened ahead of its modules (templates/room-boot.js): what it
 * received so far, whether it failed, the CONNECT auth it sends once the WebSocket opens,
 * whether it sent it, and the events it sent behind it with an acknowledgement id.
 */

/**
 * The room page's early WebSocket, if it was opened to `url` and nobody took it yet.
 * @param {string} url
 * @returns {EarlySocket | null}
 */
export function takeEarlySocket(url) {
  const early = /** @type {any} */ (globalThis).__salonEarlySignal;
  if (!early || early.url !== url || !early.ws) return null;
  delete (/** @type {any} */ (globalThis).__salonEarlySignal);
  return early;
}

// --- transports ---------------------------------------------------------------------------------

/**
 * @typedef {{packet: (from: Transport, text: string) => void,
 *   closed: (from: Transport, reason: string) => void}} Sink
 * What a transport hands its engine: each packet as it comes, and once, that it closed.
 * @typedef {WebSocketTransport | PollingTransport} Transport
 */

/**
 * Runs `fn` in a task of its own, ahead of the page's ordinary tasks where the browser can
 * (scheduler.postTask "user-blocking"): what the server sent is taken before, say, a render.
 * @param {() => void} fn
 */
function soon(fn) {
  const scheduler = /** @type {any} */ (globalThis).scheduler;
  if (typeof scheduler?.postTask === "function") scheduler.postTask(fn, { priority: "user-blocking" });
  else setTimeout(fn, 0);
}

/** Engine.IO over one WebSocket: a packet per message. */
class WebSocketTransport {
  name = "websocket";

  /**
   * @param {WebSocket} ws
   * @param {Sink} sink
   */
  constructor(ws, sink) {
    this.ws = ws;
    this.sink = sink;
    this.closed = false;
  }

  /**
   * @param {string[]} [queued] messages that came before this transport took the socket. Up to
   *   the first server event they are taken at once (the handshake, the CONNECT's answer, the
   *   answers to early requests: whoever waits for those runs in the microtasks after);
   *   from there on one per task, as if they came now, so the events come after what their
   *   answers set going. What comes meanwhile, a close too, waits behind them.
   */
  start(queued = []) {
    const firstEvent = queued.findIndex((text) => text.startsWith(ENGINE.MESSAGE + SOCKET.EVENT));
    const atOnce = firstEvent === -1 ? queued.length : firstEvent;
    for (const text of queued.slice(0, atOnce)) this.#receive(text);
    /** @type {Array<() => void> | null} */
    let backlog = queued.slice(atOnce).map((text) => () => this.#receive(text));
    /** @param {() => void} step */
    const inOrder = (step) => (backlog ? backlog.push(step) : step());
    this.ws.onmessage = (e) => inOrder(() => this.#receive(e.data));
    this.ws.onerror = () => inOrder(() => this.#end("websocket error"));
    this.ws.onclose = () => inOrder(() => this.#end("transport close"));
    const next = () => {
      const step = backlog?.shift();
      if (!step) {
        backlog = null;
        return;
      }
      step();
      soon(next);
    };
    if (backlog.length) soon(next);
    else backlog = null;
  }

  /** @param {unknown} data */
  #receive(data) {
    if (this.closed) return;
    if (typeof data !== "string") {
      this.#end("binary data is not used by Salon");
      return;
    }
    this.sink.packet(this, data);
  }

  /** @param {string[]} packets */
  send(packets) {
    if (this.closed) return;
    for (const text of packets) this.ws.send(text);
  }

  /** @param {string} reason */
  #end(reason) {
    if (this.closed) return;
    this.close();
    this.sink.closed(this, reason);
  }

  close() {
    this.closed = true;
    this.ws.onmessage = this.ws.onerror = this.ws.onclose = null;
    if (this.ws.readyState <= 1) this.ws.close();
  }
}

/** Engine.IO over HTTPS long-polling: a GET that waits for packets, a POST to send. */
class PollingTransport {
  name = "polling";

  /**
   * @param {string} serverUrl
   * @param {typeof fetch} fetchFn
   * @param {Sink} sink
   */
  constructor(serverUrl, fetchFn, sink) {
    this.serverUrl = serverUrl;
    this.fetch = fetchFn;
    this.sink = sink;
    /** @type {string | null} set by the engine once the handshake came */
    this.sid = null;
    this.maxPayload = 1_000_000;
    this.closed = false;
    /** @type {string[]} */
    this.outbox = [];
    this.posting = false;
    this.aborter = new AbortController();
    /** @type {(() => void) | null} resolves pause() once nothing is in flight */
    this.paused = null;
    this.polling = false;
    this.closeWhenSent = false;
  }

  start() {
    this.#poll();
  }

  #url() {
    /** @type {Record<string, string>} */
    const query = { transport: "polling", t: Math.random().toString(36).slice(2, 10) };
    if (this.sid) query.sid = this.sid;
    return httpUrl(this.serverUrl, query);
  }

  async #poll() {
    this.polling = true;
    while (!this.closed && !this.paused) {
      let body;
      try {
        const response = await this.fetch(this.#url(), {
          cache: "no-store", credentials: "omit", signal: this.aborter.signal,
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        body = await response.text();
      } catch {
        this.#end("poll error");
        return;
      }
      if (this.closed) return;
      for (const text of body.split(SEPARATOR)) {
        if (!this.closed) this.sink.packet(this, text);
      }
    }
    this.polling = false;
    this.#maybePaused();
  }

  /** @param {string[]} packets */
  send(packets) {
    if (this.closed) return;
    this.outbox.push(...packets);
    this.#flush();
  }

  async #flush() {
    if (this.posting || !this.outbox.length || this.closed) return;
    this.posting = true;
    // One POST at a time, in order, each within the server's limit.
    let size = 0;
    let n = 0;
    while (n < this.outbox.length && (n === 0 || size + this.outbox[n].length + 1 <= this.maxPayload)) {
      size += this.outbox[n].length + 1;
      n += 1;
    }
    const body = this.outbox.splice(0, n).join(SEPARATOR);
    try {
      const response = await this.fetch(this.#url(), {
        method: "POST", body, cache: "no-store", credentials: "omit",
        headers: { "content-type": "text/plain;charset=UTF-8" }, signal: this.aborter.signal,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch {
      this.#end("post error");
      return;
    } finally {
      this.posting = false;
    }
    if (this.outbox.length) this.#flush();
    else this.#maybePaused();
  }

  /** Stops polling once the request in flight has come back (for an upgrade). */
  pause() {
    return new Promise((resolve) => {
      this.paused = () => resolve(undefined);
      this.#maybePaused();
    });
  }

  #maybePaused() {
    if (!this.posting && !this.outbox.length) {
      if (this.paused && !this.polling) this.paused();
      if (this.closeWhenSent) this.close();
    }
  }

  /** Closes once what is to be sent has gone (the poll in flight is dropped). */
  closeAfterSending() {
    this.closeWhenSent = true;
    this.#maybePaused();
  }

  /** @param {string} reason */
  #end(reason) {
    if (this.closed) return;
    this.close();
    this.sink.closed(this, reason);
  }

  close() {
    this.closed = true;
    this.aborter.abort();
  }
}

// --- the socket ---------------------------------------------------------------------------------

/**
 * @typedef {object} SignalSocketOptions
 * @property {object} [auth] sent with the Socket.IO CONNECT
 * @property {number} [reconnectionDelay] first wait before reconnecting (ms)
 * @property {number} [reconnectionDelayMax]
 * @property {number} [timeout] for one attempt to connect (ms)
 * @property {number} [webSocketTimeout] for a WebSocket to open before long-polling is tried
 * @property {typeof WebSocket} [WebSocket]
 * @property {typeof fetch} [fetch]
 * @property {boolean} [early] whether to adopt the room page's early WebSocket (default true)
 */

export class SignalSocket {
  /**
   * @param {string} serverUrl "" for the page's own server
   * @param {SignalSocketOptions} [options]
   */
  constructor(serverUrl, options = {}) {
    this.serverUrl = serverUrl;
    this.auth = options.auth ?? {};
    this.reconnectionDelay = options.reconnectionDelay ?? 500;
    this.reconnectionDelayMax = options.reconnectionDelayMax ?? 4000;
    this.timeout = options.timeout ?? 10_000;
    this.webSocketTimeout = options.webSocketTimeout ?? Math.min(4000, this.timeout / 2);
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.useEarly = options.early ?? true;
    /** Whether the server accepted this socket (Socket.IO CONNECT answered). */
    this.connected = false;
    /** The Socket.IO session id while connected. */
    /** @type {string | null} */
    this.id = null;
    /** Whether it is connected or trying to be (false after disconnect() or a refusal). */
    this.active = false;
    /** @type {Map<string, Set<(payload: any) => void>>} */
    this.listeners = new Map();
    /** @type {Map<number, {resolve: (v: any) => void, reject: (e: Error) => void, timer: any}>} */
    this.acks = new Map();
    this.nextAckId = 0;
    this.attempts = 0;
    /** After a WebSocket failed to open, attempts start with long-polling (then upgrade). */
    this.webSocketFailed = false;
    /** @type {any} */
    this.retryTimer = null;
    /** @type {Engine | null} */
    this.engine = null;
    /** @type {Array<[string, any]> | null} the server's events held back (hold) */
    this.held = null;
    /** Answers to the early WebSocket's requests, by event, until taken (takeEarlyRequest). */
    /** @type {Map<string, {payload: any, answer: Promise<any>}>} */
    this.earlyRequests = new Map();
  }

  /** The transport in use: "websocket", "polling", or null. */
  get transport() {
    return this.engine?.transport?.name ?? null;
  }

  /**
   * @param {string} event
   * @param {(payload: any) => void} listener
   */
  on(event, listener) {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  /**
   * @param {string} event
   * @param {(payload: any) => void} listener
   */
  off(event, listener) {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  removeAllListeners() {
    this.listeners.clear();
    return this;
  }

  /**
   * @param {string} event
   * @param {any} [detail]
   */
  #dispatch(event, detail) {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        listener(detail);
      } catch (err) {
        console.error(`Salon: a listener of ${event} failed:`, err);
      }
    }
  }

  /** Connects (or keeps trying to) until disconnect(). */
  connect() {
    if (this.active) return this;
    this.active = true;
    this.attempts = 0;
    this.#attempt();
    return this;
  }

  /** Leaves the server and stops reconnecting. */
  disconnect() {
    this.active = false;
    clearTimeout(this.retryTimer);
    const engine = this.engine;
    this.engine = null;
    if (engine) {
      if (this.connected) engine.send([ENGINE.MESSAGE + SOCKET.DISCONNECT]);
      engine.close(true);
    }
    if (this.connected) this.#lost("io client disconnect");
    return this;
  }

  /**
   * Sends an event, not waiting for an answer. Dropped when not connected.
   * @param {string} event
   * @param {unknown} payload
   */
  emit(event, payload) {
    if (!this.connected || !this.engine) return false;
    this.engine.send([encodeEvent(event, payload)]);
    return true;
  }

  /**
   * Sends an event and resolves to the server's answer; rejects after `timeoutMs`, or at once
   * when not connected or when the connection drops first.
   * @param {string} event
   * @param {unknown} payload
   * @param {number} timeoutMs
   * @returns {Promise<any>}
   */
  request(event, payload, timeoutMs) {
    if (!this.connected || !this.engine) return Promise.reject(new Error("not connected"));
    const id = this.nextAckId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        reject(new Error(`no answer to ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.acks.set(id, { resolve, reject, timer });
      this.engine?.send([encodeEvent(event, payload, id)]);
    });
  }

  /**
   * Holds back the server's events (answers still come) until release(), which passes them on
   * in order: for a client that must get something ready before it can take them.
   */
  hold() {
    this.held ??= [];
  }

  release() {
    const held = this.held ?? [];
    this.held = null;
    for (const [name, payload] of held) {
      if (this.held) {
        this.held.push([name, payload]); // held again by a listener
      } else {
        this.#dispatch(name, payload);
      }
    }
  }

  /** Drops the connection as a network failure would; it then reconnects (for tests). */
  dropTransport() {
    this.engine?.fail("transport close");
  }

  #attempt() {
    clearTimeout(this.retryTimer);
    if (!this.active) return;
    let early = this.useEarly && !this.webSocketFailed
      ? takeEarlySocket(socketUrl(this.serverUrl))
      : null;
    // One that asks for this socket with other credentials is no use.
    if (early && early.auth !== JSON.stringify(this.auth)) {
      early.ws.close();
      early = null;
    }
    const engine = new Engine(this);
    this.engine = engine;
    // The whole attempt (handshake and CONNECT) has a deadline.
    engine.deadline = setTimeout(() => engine.fail("timeout"), this.timeout);
    engine.start(early);
  }

  /**
   * The answers to what the early WebSocket asked are awaited as this socket's own requests'
   * (whose ids follow theirs), for takeEarlyRequest. Its engine calls this as it adopts it.
   * @param {EarlyRequest[]} requests
   */
  awaitEarlyRequests(requests) {
    for (const { id, event, payload } of requests) {
      this.nextAckId = Math.max(this.nextAckId, id + 1);
      const answer = new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.acks.delete(id);
          reject(new Error(`no answer to ${event} within ${this.timeout} ms`));
        }, this.timeout);
        this.acks.set(id, { resolve, reject, timer });
      });
      answer.catch(() => {}); // nobody may take it
      this.earlyRequests.set(event, { payload, answer });
    }
  }

  /**
   * What the room page's early WebSocket sent as `event` (its payload) and its answer (a
   * promise, as request's), once; null when it sent none or this socket did not adopt it.
   * Take it before the events that follow its answer are passed on: in the task that
   * connected (they come one per task).
   * @param {string} event
   * @returns {{payload: any, answer: Promise<any>} | null}
   */
  takeEarlyRequest(event) {
    const early = this.earlyRequests.get(event) ?? null;
    this.earlyRequests.delete(event);
    return early;
  }

  /**
   * An engine of this socket opened: ask the server to accept this socket.
   * @param {Engine} engine
   */
  engineOpened(engine) {
    if (engine !== this.engine || engine.connectSent) return;
    engine.connectSent = true;
    engine.send([ENGINE.MESSAGE + SOCKET.CONNECT + JSON.stringify(this.auth)]);
  }

  /**
   * @param {Engine} engine
   * @param {string} text an Engine.IO MESSAGE's data
   */
  engineMessage(engine, text) {
    if (engine !== this.engine) return;
    let packet;
    try {
      packet = decodeSocketPacket(text);
    } catch (err) {
      console.warn("Salon: the signaling server sent something unreadable:", err);
      return;
    }
    if (!packet) return;
    switch (packet.type) {
      case SOCKET.CONNECT: {
        clearTimeout(engine.deadline);
        this.connected = true;
        this.id = typeof packet.data?.sid === "string" ? packet.data.sid : engine.sid;
        this.attempts = 0;
        this.#dispatch("connect");
        break;
      }
      case SOCKET.CONNECT_ERROR: {
        // The server refused this socket: retrying would get the same answer.
        clearTimeout(engine.deadline);
        this.active = false;
        this.engine = null;
        engine.close(true);
        const error = Object.assign(new Error(String(packet.data?.message ?? "refused")), {
          data: packet.data?.data,
        });
        this.#dispatch("connect_error", error);
        break;
      }
      case SOCKET.DISCONNECT: {
        this.active = false;
        this.engine = null;
        engine.close(false);
        this.#lost("io server disconnect");
        break;
      }
      case SOCKET.EVENT: {
        const [name, payload] = packet.data;
        if (packet.id !== null) {
          engine.send([ENGINE.MESSAGE + SOCKET.ACK + packet.id + "[]"]);
        }
        if (RESERVED.has(name)) break;
        if (this.held) this.held.push([name, payload]);
        else this.#dispatch(name, payload);
        break;
      }
      case SOCKET.ACK: {
        const waiting = packet.id === null ? undefined : this.acks.get(packet.id);
        if (!waiting) return;
        this.acks.delete(/** @type {number} */ (packet.id));
        clearTimeout(waiting.timer);
        waiting.resolve(packet.data[0]);
        break;
      }
    }
  }

  /**
   * An engine of this socket is gone.
   * @param {Engine} engine
   * @param {string} reason
   */
  engineClosed(engine, reason) {
    if (engine !== this.engine) return;
    clearTimeout(engine.deadline);
    this.engine = null;
    if (this.connected) this.#lost(reason);
    else this.#dispatch("connect_error", new Error(reason));
    if (!this.active) return;
    const wait = backoff(this.attempts++, {
      min: this.reconnectionDelay, max: this.reconnectionDelayMax,
    });
    this.retryTimer = setTimeout(() => this.#attempt(), wait);
  }

  /** @param {string} reason */
  #lost(reason) {
    this.connected = false;
    this.id = null;
    for (const { reject, timer } of this.acks.values()) {
      clearTimeout(timer);
      reject(new Error(`disconnected (${reason})`));
    }
    this.acks.clear();
    this.earlyRequests.clear();
    this.#dispatch("disconnect", reason);
  }
}

/** One Engine.IO session: its handshake, heartbeat, transport, and upgrade to WebSocket. */
class Engine {
  /** @param {SignalSocket} socket */
  constructor(socket) {
    this.socket = socket;
    /** @type {string | null} */
    this.sid = null;
    this.open = false;
    this.closed = false;
    /** @type {any} */
    this.deadline = null;
    /** @type {any} */
    this.heartbeat = null;
    this.pingInterval = 0;
    this.pingTimeout = 0;
    /** @type {WebSocketTransport | PollingTransport | null} */
    this.transport = null;
    /** @type {WebSocketTransport | null} a WebSocket probed for the upgrade */
    this.probe = null;
    /** @type {any} */
    this.wsTimer = null;
    /** Whether the Socket.IO CONNECT went out (an early WebSocket sends its own). */
    this.connectSent = false;
  }

  /**
   * Opens a transport: the early WebSocket if given, else a WebSocket unless they fail here.
   * @param {EarlySocket | null} early
   */
  start(early) {
    const socket = this.socket;
    if (early && !early.failed && early.ws.readyState <= 1) {
      // From now on this engine sends: the page's script sends nothing more.
      early.ws.onopen = null;
      this.connectSent = Boolean(early.connectSent);
      socket.awaitEarlyRequests(early.requests ?? []);
      this.#useWebSocket(early.ws, early.queue);
    } else if (early || socket.webSocketFailed) {
      if (early) early.ws.close();
      socket.webSocketFailed = true;
      this.#usePolling();
    } else {
      this.#openWebSocket();
    }
  }

  #openWebSocket() {
    let ws;
    try {
      ws = new this.socket.WebSocket(socketUrl(this.socket.serverUrl));
    } catch {
      this.socket.webSocketFailed = true;
      this.#usePolling();
      return;
    }
    this.#useWebSocket(ws, []);
  }

  /**
   * @param {WebSocket} ws
   * @param {string[]} queued
   */
  #useWebSocket(ws, queued) {
    // A WebSocket that does not open in time (blocked and left hanging) counts as failed.
    this.wsTimer = setTimeout(() => this.#webSocketFailed(), this.socket.webSocketTimeout);
    const transport = new WebSocketTransport(ws, this.#sink);
    this.transport = transport;
    transport.start(queued);
  }

  /** A WebSocket that never opened: this same attempt goes on over long-polling. */
  #webSocketFailed() {
    if (this.open || this.closed) return;
    clearTimeout(this.wsTimer);
    this.transport?.close();
    this.socket.webSocketFailed = true;
    this.#usePolling();
  }

  #usePolling() {
    const transport = new PollingTransport(this.socket.serverUrl, this.socket.fetch, this.#sink);
    this.transport = transport;
    transport.start();
  }

  /** What the current transport hands this engine; a replaced transport is not heard. */
  /** @type {Sink} */
  #sink = {
    packet: (from, text) => {
      if (from === this.transport) this.#receive(text);
    },
    closed: (from, reason) => {
      if (from !== this.transport) return;
      if (from.name === "websocket" && !this.open) this.#webSocketFailed();
      else this.fail(reason);
    },
  };

  /** @param {string} text */
  #receive(text) {
    if (this.closed) return;
    let packet;
    try {
      packet = decodeEnginePacket(text);
    } catch (err) {
      console.warn("Salon: the signaling server sent something unreadable:", err);
      this.fail("parse error");
      return;
    }
    switch (packet.type) {
      case ENGINE.OPEN: {
        if (this.open) return;
        let handshake;
        try {
          handshake = decodeHandshake(packet.data);
        } catch (err) {
          console.warn("Salon: the signaling server's handshake is unreadable:", err);
          this.fail("parse error");
          return;
        }
        clearTimeout(this.wsTimer);
        this.open = true;
        this.sid = handshake.sid;
        this.pingInterval = handshake.pingInterval;
        this.pingTimeout = handshake.pingTimeout;
        if (this.transport instanceof PollingTransport) {
          this.transport.sid = handshake.sid;
          this.transport.maxPayload = handshake.maxPayload;
        } else {
          this.socket.webSocketFailed = false;
        }
        this.#expectPing();
        this.socket.engineOpened(this);
        if (this.transport instanceof PollingTransport && handshake.upgrades.includes("websocket")) {
          this.#probeUpgrade();
        }
        break;
      }
      case ENGINE.PING:
        this.#expectPing();
        this.send([ENGINE.PONG]);
        break;
      case ENGINE.MESSAGE:
        this.socket.engineMessage(this, packet.data);
        break;
      case ENGINE.CLOSE:
        this.fail("transport close");
        break;
      default: // PONG, UPGRADE, NOOP: nothing to do
    }
  }

  /** The server pings every pingInterval; a silence longer than that and pingTimeout is a loss. */
  #expectPing() {
    clearTimeout(this.heartbeat);
    this.heartbeat = setTimeout(() => this.fail("ping timeout"), this.pingInterval + this.pingTimeout);
  }

  /** From long-polling to WebSocket: probe, pause the polling, then switch (Engine.IO v4). */
  #probeUpgrade() {
    let ws;
    try {
      ws = new this.socket.WebSocket(socketUrl(this.socket.serverUrl, { sid: /** @type {string} */ (this.sid) }));
    } catch {
      return;
    }
    /** @type {Sink} */
    const sink = {
      packet: (from, text) => {
        if (this.closed || from !== this.probe && from !== this.transport) return;
        if (from === this.probe && text === ENGINE.PONG + "probe") {
          clearTimeout(timer);
          this.#switchTo(probe);
        } else if (from === this.transport) {
          this.#receive(text);
        }
      },
      closed: (from, reason) => {
        clearTimeout(timer);
        if (from === this.transport) this.fail(reason);
        else if (from === this.probe) this.probe = null;
      },
    };
    const probe = new WebSocketTransport(ws, sink);
    this.probe = probe;
    // A probe that does not answer in time is dropped; the session stays on long-polling.
    const timer = setTimeout(() => {
      if (this.probe !== probe) return;
      this.probe = null;
      probe.close();
    }, this.socket.webSocketTimeout);
    probe.start();
    ws.onopen = () => probe.send([ENGINE.PING + "probe"]);
  }

  /** @param {WebSocketTransport} probe */
  async #switchTo(probe) {
    const polling = /** @type {PollingTransport} */ (this.transport);
    await polling.pause();
    if (this.closed || this.probe !== probe) return;
    polling.close();
    this.probe = null;
    this.transport = probe;
    this.socket.webSocketFailed = false;
    probe.send([ENGINE.UPGRADE]);
  }

  /** @param {string[]} packets */
  send(packets) {
    if (!this.closed) this.transport?.send(packets);
  }

  /** Ends this session because something went wrong; the socket hears of it. */
  /** @param {string} reason */
  fail(reason) {
    if (this.closed) return;
    this.close(false);
    this.socket.engineClosed(this, reason);
  }

  /**
   * Ends this session (quietly: the socket knows).
   * @param {boolean} polite tell the server (a CLOSE packet) before going
   */
  close(polite) {
    if (this.closed) return;
    if (polite && this.open) this.transport?.send([ENGINE.CLOSE]);
    this.closed = true;
    clearTimeout(this.heartbeat);
    clearTimeout(this.wsTimer);
    clearTimeout(this.deadline);
    this.probe?.close();
    // A polite close over long-polling lets its POST go out before the transport stops.
    const transport = this.transport;
    if (polite && transport instanceof PollingTransport) transport.closeAfterSending();
    else transport?.close();
  }
}
