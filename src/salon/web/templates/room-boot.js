// Opens the room's signaling connection while the room app's modules load: the app's
// signal-socket.js adopts it (takeEarlySocket), so joining waits neither for the modules and
// then a new connection, nor for the Socket.IO CONNECT, sent here as soon as the handshake
// comes. Inline in the room page, allowed by its hash in the page's CSP.
(() => {
  try {
    const url = `${location.protocol.replace("http", "ws")}//${location.host}/socket.io/?EIO=4&transport=websocket`;
    const early = { url, ws: new WebSocket(url), queue: [], failed: false, auth: '{"v":1}' };
    early.ws.onmessage = (e) => {
      early.queue.push(e.data);
      if (early.queue.length === 1 && String(e.data).startsWith("0")) early.ws.send(`40${early.auth}`);
    };
    early.ws.onerror = early.ws.onclose = () => { early.failed = true; };
    window.__salonEarlySignal = early;
  } catch {
    // No WebSocket here: the app finds none to adopt and connects as it would anyway.
  }
})();
