// Opens the room's signaling connection while the room app's modules load: the app's
// signal-socket.js adopts it (takeEarlySocket), so joining waits neither for the modules and
// then a new connection, nor for the Socket.IO CONNECT, sent here as soon as the WebSocket
// opens. A page that joins at once (a display name and precallReview=off in its link) sends
// its join right behind it, the join the app would send (joinAtOnce): the server takes a
// connection's packets in order, so the join is read once the CONNECT is accepted (and
// dropped if it is not), and the app takes its answer when its own join is the same
// (salon-client.js). Nothing here waits for a reply: while the modules load, this page's one
// thread is busy, and each reply waited for would wait for it too.
//
// Such a page also asks for its camera and microphone here (both on, in its link), with the
// app's constraints (deviceConstraints): opening them takes a while, and the app would ask only
// once its modules have run. The app takes that request (salon-client.js, takeEarlyMedia).
//
// Inline in the room page, allowed by its hash in the page's CSP. The server puts the rules
// of static/params.js (a module that imports nothing) in front of this, all in one function,
// so the page reads its link by the app's own rules (pages.py, _room_boot).
try {
  const url = `${location.protocol.replace("http", "ws")}//${location.host}/socket.io/?EIO=4&transport=websocket`;
  const page = document.documentElement.dataset;
  const join = window.RTCPeerConnection && navigator.mediaDevices
    ? joinAtOnce(parseRoomParams(location.search, () => {}), {
      roomName: new URL(page.roomName ?? location.pathname, location.origin).pathname,
      role: page.role ?? "visitor",
    })
    : null;
  const early = {
    url, ws: new WebSocket(url), queue: [], failed: false, auth: '{"v":1}', connectSent: false,
    requests: [],
  };
  // Until the app adopts the socket (which then stops this: it sends what is still unsent).
  early.ws.onopen = () => {
    early.ws.send(`40${early.auth}`);
    early.connectSent = true;
    if (join) {
      // Acknowledgement id 0: the app's own ids follow.
      early.requests.push({ id: 0, event: "join", payload: join });
      early.ws.send(`420${JSON.stringify(["join", join])}`);
    }
  };
  early.ws.onmessage = (e) => { early.queue.push(String(e.data)); };
  early.ws.onerror = early.ws.onclose = () => { early.failed = true; };
  window.__salonEarlySignal = early;
  if (join && join.audio && join.video && navigator.mediaDevices.getUserMedia) {
    const mode = page.roomMode;
    const media = navigator.mediaDevices.getUserMedia({
      audio: deviceConstraints("audio", mode), video: deviceConstraints("video", mode),
    });
    media.catch(() => {}); // refused: the app finds out when it takes it
    window.__salonEarlyMedia = media;
  }
} catch {
  // No WebSocket here: the app finds none to adopt and connects as it would anyway.
}
