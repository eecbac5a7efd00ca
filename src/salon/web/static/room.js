// The room app at /<roomName>: pre-call, waiting and knock screens, the call itself, and the
// screens after it. It is built on the JS SDK (sdk.js), as a customer's own UI would be: it
// renders the room connection's state and calls its actions. When the room is embedded in
// another site's page, embed-bridge.js tells that page what happens and takes its commands.
//
// Tests read it through `data-testid` attributes (see tests/e2e/room_page.py) and through
// `window.salon = {connection, client, debug: {peerConnections}}` (client: the SDK's internal
// SalonClient, for tests that look under the hood).

import { append, h, icon, setProps, syncList } from "./dom.js";
import { cleanDisplayName, devicesAtJoin, joinsAtOnce, parseRoomParams } from "./params.js";
import { createRoomConnection } from "./sdk.js";
import { NO_SPEAKER, nextSpeaker } from "./speaker.js";
import { pickLanguage, translator } from "./strings.js";

/** @typedef {import("./sdk.js").RoomState} RoomState */
/** @typedef {import("./sdk.js").RemoteParticipant} RemoteParticipant */
/** @typedef {import("./sdk.js").LocalParticipant} LocalParticipant */
/** @typedef {import("./sdk.js").ChatMessage} ChatMessage */

const SPEAKER_POLL_MS = 400;
const NOTICE_MS = 6000;

/** The screen for each connection status. */
const SCREEN_OF = /** @type {Record<string, string>} */ ({
  idle: "precall",
  connecting: "joining",
  connected: "in_room",
  reconnecting: "in_room",
  room_locked: "room_locked",
  knocking: "knocking",
  knock_rejected: "knock_rejected",
  kicked: "removed",
  left: "left",
  meeting_ended: "meeting_ended",
  room_full: "room_full",
  error: "error",
});

const params = parseRoomParams(location.search);
const t = translator(params.lang);
document.documentElement.lang = pickLanguage(params.lang);

const root = /** @type {HTMLElement} */ (document.querySelector("[data-testid=screen]"));
// What the server tells the app (attributes of <html>, read by the inline boot script too).
const page = document.documentElement.dataset;
const roomName = page.roomName ?? location.pathname;
const role = /** @type {import("./sdk.js").Role} */ (page.role ?? "visitor");

const room = createRoomConnection(location.origin + roomName, {
  roomKey: params.roomKey,
  role,
  externalId: params.externalId,
  // What joining opens when the pre-call screen did not (joining at once).
  localMediaOptions: devicesAtJoin(params, role),
});
/** The connection's state now (a new snapshot after each change). */
const now = () => room.state;
// @ts-ignore -- the test and debugging hook
window.salon = { connection: room, client: room.client, params, debug: room.debug };

const ui = {
  /** @type {string | null} */
  screen: null,
  /** @type {"chat" | "people" | null} */
  panel: null,
  unread: 0,
  speaker: NO_SPEAKER,
  soundBlocked: false,
  /** @type {string | null} the app's own error (before the connection has one) */
  fatal: null,
  /** @type {string | null} */
  displayName: params.displayName,
  /** @type {{id: number, text: string}[]} */
  notices: [],
  /** @type {ReturnType<typeof setInterval> | null} */
  speakerTimer: null,
};
/** @type {Record<string, HTMLElement>} the in-room regions, by name */
let regions = {};

const features = {
  chat: params.chat && !params.minimal,
  people: params.people && !params.minimal,
  screenshare: params.screenshare && !params.minimal && Boolean(navigator.mediaDevices?.getDisplayMedia),
  leave: params.leaveButton,
};
if (params.minimal) document.body.classList.add("minimal");

// The embed API, when another site's page frames this room: a page on its own does not load it
// (the server preloads it for a page requested as a frame).
const embed = window.parent === window ? null : await import("./embed-bridge.js");
const bridge = embed === null ? { active: false, origin: null, post() {} } : embed.createEmbedBridge({
  win: window,
  allowed: embed.parseAllowed(page.embedDomains),
  claimed: params.embedOrigin,
  context: () => ({ role: now().localParticipant.role, status: now().connectionStatus, features }),
  actions: {
    knock: () => knock(),
    leaveRoom: () => (now().connectionStatus === "knocking" ? room.cancelKnock() : room.leaveRoom()),
    endMeeting: () => room.endMeeting(),
    toggleCamera: (on) => room.toggleCamera(on),
    toggleMicrophone: (on) => room.toggleMicrophone(on),
    toggleScreenshare: (on) => {
      if ((on ?? !now().localParticipant.isScreenSharing) !== now().localParticipant.isScreenSharing) {
        return toggleScreenshare();
      }
    },
    toggleChat: (on) => setPanel("chat", on),
    togglePeople: (on) => setPanel("people", on),
  },
});
if (embed) embed.followConnection(bridge, room);

// --- rendering ---------------------------------------------------------------------------------

let renderQueued = false;
// How long a render waits for descriptions on their way (below); past that it goes ahead.
const RENDER_AFTER_DESCRIPTIONS_MS = 250;
// A render is a task of its own, not a microtask of the change that asked for it, and it waits
// for the offers and answers on their way (the screen and tiles it builds would hold them back
// by as long as they take to build):
// - a newcomer's first offers start as its join is answered, which asks for the in-room screen;
// - a remote offer's tracks ask for tiles, and the answer is made first.
// bench/join.py: the side answering took ~37 ms from the offer to its answer instead of ~50 ms.
function render() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => room.client.descriptionsSent(RENDER_AFTER_DESCRIPTIONS_MS).then(() => {
    renderQueued = false;
    renderNow();
  }), 0);
}

// A quick join goes from the pre-call screen (or the blank page of a link that joins at once)
// straight into the room: the "joining" screen shows only once a join has taken this long. No
// flash of a screen nobody can read, and building it does not hold up the join's answer.
const JOINING_SCREEN_AFTER_MS = 400;
/** @type {ReturnType<typeof setTimeout> | null} */
let joiningTimer = null;
let joiningDue = false;

/** The screen to show now, or null for none yet (see JOINING_SCREEN_AFTER_MS). */
function screenNow() {
  const screen = ui.fatal ? "error" : (SCREEN_OF[now().connectionStatus] ?? "error");
  if (screen !== "joining") {
    if (joiningTimer) clearTimeout(joiningTimer);
    joiningTimer = null;
    joiningDue = false;
    return screen;
  }
  if (joiningDue || ui.screen === "joining") return screen;
  joiningTimer ??= setTimeout(() => {
    joiningDue = true;
    render();
  }, JOINING_SCREEN_AFTER_MS);
  return ui.screen;
}

function renderNow() {
  const screen = screenNow();
  root.setAttribute("aria-busy", String(screen === null || now().connectionStatus === "connecting"));
  if (screen === null) return;
  if (screen !== ui.screen) {
    ui.screen = screen;
    regions = {};
    root.dataset.screen = screen;
    root.replaceChildren(SCREENS[screen]());
    const heading = root.querySelector("h1");
    if (heading && screen !== "in_room") {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    if (screen === "in_room") startSpeakerPolling();
    else stopSpeakerPolling();
  }
  if (screen === "precall") updatePrecall();
  if (screen === "knocking") updateKnockMessage();
  if (screen === "in_room") updateRoom();
}

/**
 * A centered card screen: heading, paragraphs, then buttons or anything else.
 * @param {string} title
 * @param {...(Node | string | null | false)} body
 */
function card(title, ...body) {
  const section = h("section", { class: "card" }, h("h1", null, title));
  append(section, body.map((part) => (typeof part === "string" ? h("p", null, part) : part)));
  return section;
}

/**
 * @param {string} label
 * @param {() => void} onclick
 * @param {Record<string, unknown>} [props]
 */
function button(label, onclick, props = {}) {
  return h("button", { type: "button", onclick, ...props }, label);
}

function backToPrecall() {
  room.reset();
  startPreview();
}

/** @type {Record<string, () => HTMLElement>} */
const SCREENS = {
  precall: buildPrecall,
  joining: () => card(t("joining.title"), h("div", { class: "spinner", "aria-hidden": "true" }),
    t("joining.body")),
  room_locked: () => card(t("locked.title"), t("locked.body"),
    h("div", { class: "actions" },
      button(t("precall.knock"), knock, { "data-testid": "knock-button", class: "primary" }),
      button(t("left.rejoin"), backToPrecall))),
  knocking: () => card(t("knocking.title"), t("knocking.body"),
    h("div", { class: "host-message", hidden: true },
      h("p", { class: "label" }, t("knocking.hostSays")),
      h("p", { "data-testid": "knock-message", "aria-live": "polite" })),
    h("div", { class: "actions" }, button(t("knocking.cancel"), () => room.cancelKnock()))),
  knock_rejected: () => card(t("knockRejected.title"), t("knockRejected.body"),
    now().knockMessage && h("div", { class: "host-message" },
      h("p", { class: "label" }, t("knocking.hostSays")),
      h("p", { "data-testid": "knock-message" }, now().knockMessage))),
  left: () => card(t("left.title"),
    h("div", { class: "actions" }, button(t("left.rejoin"), backToPrecall, { class: "primary" }))),
  removed: () => card(t("removed.title"), t("removed.body")),
  meeting_ended: () => card(t("ended.title"), t("ended.body")),
  room_full: () => card(t("full.title"), t("full.body"),
    h("div", { class: "actions" }, button(t("error.retry"), backToPrecall))),
  error: () => card(t("error.title"), errorText(),
    h("div", { class: "actions" }, button(t("error.retry"), () => location.reload()))),
  in_room: buildRoom,
};

function errorText() {
  if (ui.fatal) return ui.fatal;
  const error = now().error;
  const code = error?.code ?? "";
  const known = /** @type {Record<string, string>} */ ({
    connect_failed: t("error.connect"),
    timeout: t("error.timeout"),
    not_connected: t("error.connect"),
    invalid_token: t("error.invalidLink"),
    not_found: t("error.notFound"),
  });
  return known[code] ?? error?.message ?? t("error.connect");
}

// --- pre-call ----------------------------------------------------------------------------------

function buildPrecall() {
  const viewer = room.isViewer;
  const nameInput = h("input", {
    id: "display-name", "data-testid": "display-name", type: "text", maxlength: "100",
    autocomplete: "name", required: true, placeholder: t("precall.namePlaceholder"),
    value: ui.displayName ?? "", "aria-describedby": "name-error",
  });
  const form = h("form", { class: "precall-form", novalidate: true, onsubmit: onJoinSubmit },
    h("label", { for: "display-name" }, t("precall.nameLabel")),
    nameInput,
    h("p", { id: "name-error", class: "field-error", "aria-live": "polite" }),
  );
  if (!viewer) {
    append(form, [
      h("label", { for: "camera-select" }, t("precall.cameraLabel")),
      h("select", { id: "camera-select", "data-testid": "camera-select",
        onchange: (/** @type {Event} */ e) =>
          room.setCameraDevice(/** @type {HTMLSelectElement} */ (e.target).value || null) }),
      h("label", { for: "mic-select" }, t("precall.micLabel")),
      h("select", { id: "mic-select", "data-testid": "mic-select",
        onchange: (/** @type {Event} */ e) =>
          room.setMicrophoneDevice(/** @type {HTMLSelectElement} */ (e.target).value || null) }),
    ]);
  }
  const note = viewer ? t("precall.viewerNote") : role === "host" ? t("precall.hostNote") : "";
  append(form, [
    note && h("p", { class: "note" }, note),
    h("p", { class: "media-error", "aria-live": "polite", hidden: true }),
    h("button", { type: "submit", class: "primary", "data-testid": "join-button" },
      viewer ? t("precall.joinAsViewer") : t("precall.join")),
  ]);

  const preview = viewer ? null : h("div", { class: "preview" },
    h("video", { "data-testid": "local-video", class: "mirror", autoplay: true, muted: true,
      playsInline: true }),
    h("p", { class: "preview-off" }, t("precall.previewOff")),
    h("div", { class: "preview-controls" },
      toggleButton("precall-mic-toggle", "mic", t("controls.mic"), () => room.toggleMicrophone()),
      toggleButton("precall-camera-toggle", "camera", t("controls.camera"), () => room.toggleCamera())),
  );
  return h("section", { class: "card precall" },
    h("h1", null, t("precall.title")),
    h("p", { class: "room-label" }, t("precall.roomLabel", { room: roomName.slice(1) })),
    h("div", { class: viewer ? "precall-body single" : "precall-body" }, preview, form));
}

let devicesListed = false;
function updatePrecall() {
  const { localParticipant: me, mediaError: failure } = now();
  // Joining (the "joining" screen shows if it takes a while): one click is enough.
  const joinButton = /** @type {HTMLButtonElement | null} */ (root.querySelector("[data-testid=join-button]"));
  if (joinButton) joinButton.disabled = now().connectionStatus === "connecting";
  const video = /** @type {HTMLVideoElement | null} */ (root.querySelector("[data-testid=local-video]"));
  if (video) showStream(video, videoOnly(me.stream));
  root.querySelector(".preview")?.classList.toggle("off", !me.isVideoEnabled);
  setToggle(root.querySelector("[data-testid=precall-mic-toggle]"), me.isAudioEnabled, "mic");
  setToggle(root.querySelector("[data-testid=precall-camera-toggle]"), me.isVideoEnabled, "camera");
  const mediaError = /** @type {HTMLElement | null} */ (root.querySelector(".media-error"));
  if (mediaError) {
    mediaError.hidden = !failure;
    mediaError.textContent = failure
      ? t("precall.mediaBlocked", { reason: failure.message || failure.name })
      : "";
  }
  if (!devicesListed && !room.isViewer) {
    devicesListed = true;
    fillDeviceSelects();
  }
}

async function fillDeviceSelects() {
  const { cameras, microphones } = await room.listDevices();
  const { localParticipant: { stream }, selectedDevices } = now();
  const current = {
    camera: stream.getVideoTracks()[0]?.getSettings().deviceId ?? selectedDevices.videoDeviceId,
    mic: stream.getAudioTracks()[0]?.getSettings().deviceId ?? selectedDevices.audioDeviceId,
  };
  for (const [testid, list, kind, chosen] of /** @type {const} */ ([
    ["camera-select", cameras, t("precall.camera"), current.camera],
    ["mic-select", microphones, t("precall.microphone"), current.mic],
  ])) {
    const select = /** @type {HTMLSelectElement | null} */ (root.querySelector(`[data-testid=${testid}]`));
    if (!select) continue;
    const options = list.map((device, i) =>
      h("option", { value: device.deviceId, selected: device.deviceId === chosen },
        device.label || t("precall.deviceN", { kind, n: i + 1 })));
    if (!options.length) options.push(h("option", { value: "" }, t("precall.noDevice")));
    select.replaceChildren(...options);
  }
}

/** @param {SubmitEvent} event */
function onJoinSubmit(event) {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (root.querySelector("[data-testid=display-name]"));
  const name = cleanDisplayName(input.value);
  const error = /** @type {HTMLElement} */ (root.querySelector("#name-error"));
  if (!name) {
    error.textContent = t("precall.nameRequired");
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  ui.displayName = name;
  join();
}

function join() {
  if (!ui.displayName) return Promise.resolve();
  return room.joinRoom({ displayName: ui.displayName });
}

function knock() {
  if (!ui.displayName) return;
  room.knock({ displayName: ui.displayName });
}

async function startPreview() {
  devicesListed = false;
  // The signaling connects while the person looks at the pre-call screen: joining is then
  // one round trip.
  room.preconnect();
  if (room.isViewer || params.skipMediaPermissionPrompt) return;
  await room.startLocalMedia({ audio: params.audio, video: params.video });
  devicesListed = false;
  render();
}

// --- knocking ----------------------------------------------------------------------------------

function updateKnockMessage() {
  const text = root.querySelector("[data-testid=knock-message]");
  const box = /** @type {HTMLElement | null} */ (root.querySelector(".host-message"));
  if (!text || !box) return;
  text.textContent = now().knockMessage;
  box.hidden = !now().knockMessage;
}

// --- in the room -------------------------------------------------------------------------------

/**
 * A toggle button with an icon and a label; `aria-pressed` says whether it is on.
 * @param {string} testid
 * @param {string} iconName
 * @param {string} label
 * @param {() => void} onclick
 */
function toggleButton(testid, iconName, label, onclick) {
  return h("button", { type: "button", class: "control", "data-testid": testid,
    "aria-pressed": "false", "data-icon": iconName, title: label, onclick },
    icon(iconName), h("span", { class: "control-label" }, label));
}

/**
 * @param {Element | null} el
 * @param {boolean} on
 * @param {string} [offIcon]  the icon drawn slashed when off (mic, camera)
 */
function setToggle(el, on, offIcon) {
  if (!el) return;
  const state = on ? "on" : "off";
  if (el.getAttribute("data-state") === state) return;
  el.setAttribute("aria-pressed", String(on));
  el.setAttribute("data-state", state);
  const name = /** @type {HTMLElement} */ (el).dataset.icon ?? "";
  if (offIcon) el.querySelector("svg")?.replaceWith(icon(name, !on));
}

function buildRoom() {
  const host = now().localParticipant.role === "host";
  const viewer = room.isViewer;
  const controls = h("nav", { class: "controls", "aria-label": t("controls.label") });
  if (!viewer) {
    append(controls, [
      toggleButton("mic-toggle", "mic", t("controls.mic"), () => room.toggleMicrophone()),
      toggleButton("camera-toggle", "camera", t("controls.camera"), () => room.toggleCamera()),
    ]);
    if (features.screenshare) {
      controls.append(toggleButton("screenshare-toggle", "screen", t("controls.screenshare"), toggleScreenshare));
    }
  }
  if (features.chat) {
    const chat = toggleButton("chat-toggle", "chat", t("controls.chat"), () => togglePanel("chat"));
    chat.setAttribute("aria-controls", "side-panel");
    chat.append(h("span", { class: "badge", hidden: true, "aria-hidden": "true" }));
    controls.append(chat);
  }
  if (features.people) {
    const people = toggleButton("people-toggle", "people", t("controls.people"), () => togglePanel("people"));
    people.setAttribute("aria-controls", "side-panel");
    controls.append(people);
  }
  if (host && !params.minimal) {
    controls.append(toggleButton("lock-toggle", "lock", t("controls.lock"),
      () => room.lockRoom(!now().room?.locked)));
  }
  if (features.leave) {
    controls.append(h("button", { type: "button", class: "control leave", "data-testid": "leave-button",
      title: t("controls.leave"), onclick: () => room.leaveRoom() },
    icon("leave"), h("span", { class: "control-label" }, t("controls.leave"))));
  }
  if (host) {
    controls.append(h("button", { type: "button", class: "control danger",
      "data-testid": "end-meeting-button", title: t("controls.endMeeting"),
      onclick: () => room.endMeeting() },
    icon("end"), h("span", { class: "control-label" }, t("controls.endMeeting"))));
  }

  regions = {
    status: h("span", { "data-testid": "connection-status", "data-status": "stable" }, t("room.connection.stable")),
    locked: h("span", { class: "locked-badge", hidden: true }, icon("lock"), t("room.locked")),
    knocks: h("section", { class: "knocks", hidden: true, "aria-live": "polite",
      "aria-label": t("people.waiting") }),
    grid: h("div", { class: "grid", "data-count": "1" }),
    alone: h("p", { class: "alone", hidden: true }, t("room.alone")),
    panel: h("aside", { id: "side-panel", class: "panel", hidden: true }),
    notices: h("div", { class: "notices", role: "status", "aria-live": "polite" }),
    sound: button(t("room.enableSound"), enableSound, { class: "sound-button primary", hidden: true }),
    controls,
  };
  return h("div", { class: "room" },
    h("header", { class: "topbar" },
      h("h1", { class: "room-name" }, roomName.slice(1)),
      regions.locked,
      h("p", { class: "connection" }, h("span", { class: "label" }, t("room.connection")), " ", regions.status)),
    h("div", { class: "stage" },
      h("div", { class: "main" }, regions.knocks, regions.grid, regions.alone, regions.sound, regions.notices),
      regions.panel),
    controls);
}

function updateRoom() {
  const state = now();
  const me = state.localParticipant;
  const host = me.role === "host";
  const quality = state.connectionQuality;
  if (regions.status.dataset.status !== quality) {
    regions.status.dataset.status = quality;
    regions.status.textContent = t(`room.connection.${quality}`);
  }
  regions.locked.hidden = !state.room?.locked;
  const controls = regions.controls;
  setToggle(controls.querySelector("[data-testid=mic-toggle]"), me.isAudioEnabled, "mic");
  setToggle(controls.querySelector("[data-testid=camera-toggle]"), me.isVideoEnabled, "camera");
  setToggle(controls.querySelector("[data-testid=screenshare-toggle]"), me.isScreenSharing);
  setToggle(controls.querySelector("[data-testid=chat-toggle]"), ui.panel === "chat");
  setToggle(controls.querySelector("[data-testid=people-toggle]"), ui.panel === "people");
  const lock = controls.querySelector("[data-testid=lock-toggle]");
  if (lock) {
    const locked = Boolean(state.room?.locked);
    setToggle(lock, locked);
    const label = locked ? t("controls.unlock") : t("controls.lock");
    lock.setAttribute("title", label);
    const text = lock.querySelector(".control-label");
    if (text && text.textContent !== label) text.textContent = label;
  }
  const badge = /** @type {HTMLElement | null} */ (controls.querySelector("[data-testid=chat-toggle] .badge"));
  if (badge) {
    badge.hidden = ui.unread === 0 || ui.panel === "chat";
    badge.textContent = ui.unread > 99 ? "99+" : String(ui.unread);
  }
  updateTiles();
  regions.alone.hidden = state.remoteParticipants.length > 0;
  regions.sound.hidden = !ui.soundBlocked;
  if (host) updateKnocks();
  updatePanel();
  updateNotices();
}

// --- video tiles -------------------------------------------------------------------------------

/**
 * @typedef {object} TileSpec
 * @property {string} key
 * @property {"camera" | "screen"} kind
 * @property {string} participantId
 * @property {MediaStream} stream
 * @property {string} name
 * @property {boolean} mine
 * @property {boolean} audio
 * @property {boolean} video
 * @property {boolean} reconnecting
 * @property {boolean} host
 */

/** @returns {TileSpec[]} */
function tileSpecs() {
  /** @type {TileSpec[]} */
  const screens = [];
  /** @type {TileSpec[]} */
  const cameras = [];
  const { localParticipant: me, remoteParticipants } = now();
  if (me.id !== null && !room.isViewer) {
    cameras.push({ key: `camera:${me.id}`, kind: "camera", participantId: me.id,
      stream: me.stream, name: t("room.youSuffix", { name: me.displayName }),
      mine: true, audio: me.isAudioEnabled, video: me.isVideoEnabled, reconnecting: false,
      host: me.role === "host" });
    if (me.presentationStream) {
      screens.push({ key: `screen:${me.id}`, kind: "screen", participantId: me.id,
        stream: me.presentationStream, name: t("room.yourScreen"), mine: true, audio: false,
        video: true, reconnecting: false, host: false });
    }
  }
  for (const p of remoteParticipants) {
    if (!p.stream) continue; // a viewer, or no connection yet
    const reconnecting = p.connection === "reconnecting";
    cameras.push({ key: `camera:${p.id}`, kind: "camera", participantId: p.id,
      stream: p.stream, name: p.displayName, mine: false, audio: p.isAudioEnabled,
      video: p.isVideoEnabled, reconnecting, host: p.role === "host" });
    if (p.presentationStream) {
      screens.push({ key: `screen:${p.id}`, kind: "screen", participantId: p.id,
        stream: p.presentationStream, name: t("room.screenOf", { name: p.displayName }),
        mine: false, audio: false, video: true, reconnecting, host: false });
    }
  }
  return [...screens, ...cameras];
}

/** @param {TileSpec} spec */
function createTile(spec) {
  const video = h("video", { autoplay: true, playsInline: true, muted: spec.mine });
  const tile = h("figure", {
    class: `tile ${spec.kind}`,
    "data-testid": spec.kind === "camera" ? "video-tile" : "screenshare-tile",
    "data-participant-id": spec.participantId,
  },
  video,
  h("div", { class: "avatar", "aria-hidden": "true" }, initials(spec.name)),
  h("figcaption", null,
    h("span", { class: "mic-state", hidden: true, title: t("room.micMuted") }, icon("mic", true)),
    h("span", { class: "name" }, spec.name),
    h("span", { class: "tile-status" })));
  if (spec.mine && spec.kind === "camera") video.classList.add("mirror");
  if (!spec.mine) {
    // In a group room, the tile's size picks the layer of their video the server forwards.
    room.watchVideoTile(video, spec.participantId, spec.kind === "screen" ? "screenshare" : "camera");
  }
  return tile;
}

/** @param {HTMLElement} tile @param {TileSpec} spec */
function updateTile(tile, spec) {
  const video = /** @type {HTMLVideoElement} */ (tile.querySelector("video"));
  // Our own camera tile shows video only: our own voice would echo.
  showStream(video, spec.mine && spec.kind === "camera" ? videoOnly(spec.stream) : spec.stream, spec.mine);
  tile.classList.toggle("video-off", spec.kind === "camera" && !spec.video);
  tile.classList.toggle("reconnecting", spec.reconnecting);
  const speaking = spec.kind === "camera" && ui.speaker.speaker === spec.participantId;
  tile.classList.toggle("speaking", speaking);
  tile.dataset.speaking = String(speaking);
  const name = /** @type {HTMLElement} */ (tile.querySelector(".name"));
  if (name.textContent !== spec.name) name.textContent = spec.name;
  const avatar = /** @type {HTMLElement} */ (tile.querySelector(".avatar"));
  const letters = initials(spec.name);
  if (avatar.textContent !== letters) avatar.textContent = letters;
  /** @type {HTMLElement} */ (tile.querySelector(".mic-state")).hidden = spec.kind !== "camera" || spec.audio;
  const status = /** @type {HTMLElement} */ (tile.querySelector(".tile-status"));
  const statusText = spec.reconnecting ? t("room.reconnecting") : "";
  if (status.textContent !== statusText) status.textContent = statusText;
}

function updateTiles() {
  const specs = tileSpecs();
  syncList(regions.grid, specs, (s) => s.key, createTile, updateTile);
  regions.grid.dataset.count = String(Math.min(specs.length, 9));
  regions.grid.classList.toggle("has-screen", specs.some((s) => s.kind === "screen"));
}

/** Streams shown by video elements, so a changed track set is noticed. */
const shown = new WeakMap();

/**
 * Points a <video> at a stream and keeps it playing. A stream whose tracks changed is set
 * again, so the element picks up a track added later.
 * @param {HTMLVideoElement} video
 * @param {MediaStream} stream
 * @param {boolean} [silent]
 */
function showStream(video, stream, silent = true) {
  const signature = stream.getTracks().map((track) => track.id).join(",");
  const before = shown.get(video);
  if (before && before.stream === stream && before.signature === signature) return;
  shown.set(video, { stream, signature });
  video.srcObject = stream;
  if (!silent && !ui.soundBlocked) video.muted = false;
  play(video);
}

/**
 * @param {MediaStream} stream
 * @returns {MediaStream} a stream of the same video track(s); cached per track set
 */
function videoOnly(stream) {
  const tracks = stream.getVideoTracks();
  const key = tracks.map((track) => track.id).join(",");
  const cached = videoOnlyCache.get(stream);
  if (cached && cached.key === key) return cached.stream;
  const fresh = new MediaStream(tracks);
  videoOnlyCache.set(stream, { key, stream: fresh });
  return fresh;
}
/** @type {WeakMap<MediaStream, {key: string, stream: MediaStream}>} */
const videoOnlyCache = new WeakMap();

/** @param {HTMLVideoElement} video */
function play(video) {
  video.play().catch((err) => {
    if (err?.name !== "NotAllowedError" || video.muted) return;
    // The browser blocks sound until the person interacts with the page: play muted now,
    // and offer a button that turns the sound on.
    ui.soundBlocked = true;
    video.muted = true;
    video.play().catch(() => {});
    render();
  });
}

function enableSound() {
  ui.soundBlocked = false;
  for (const tile of regions.grid.querySelectorAll(".tile")) {
    const video = /** @type {HTMLVideoElement} */ (tile.querySelector("video"));
    if (!video.classList.contains("mirror") && !tile.classList.contains("screen")) {
      video.muted = false;
      video.play().catch(() => {});
    }
  }
  render();
}

/** @param {string} name */
function initials(name) {
  const words = name.replace(/\(.*\)/, "").trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => [...w][0].toUpperCase()).join("") || "?";
}

// --- active speaker --------------------------------------------------------------------------

function startSpeakerPolling() {
  if (ui.speakerTimer) return;
  ui.speakerTimer = setInterval(async () => {
    const status = now().connectionStatus;
    if (status !== "connected" && status !== "reconnecting") return;
    const levels = await room.audioLevels();
    const next = nextSpeaker(ui.speaker, levels, performance.now());
    const changed = next.speaker !== ui.speaker.speaker;
    ui.speaker = next;
    if (changed) render();
  }, SPEAKER_POLL_MS);
}

function stopSpeakerPolling() {
  if (ui.speakerTimer) clearInterval(ui.speakerTimer);
  ui.speakerTimer = null;
  ui.speaker = NO_SPEAKER;
}

// --- screen share ------------------------------------------------------------------------------

async function toggleScreenshare() {
  if (now().localParticipant.isScreenSharing) {
    room.stopScreenshare();
    return;
  }
  const started = await room.startScreenshare();
  if (!started) notice(t("notice.screenshareFailed"));
}

// --- knocks (hosts) ----------------------------------------------------------------------------

function updateKnocks() {
  const knocks = now().knocks;
  regions.knocks.hidden = knocks.length === 0;
  syncList(regions.knocks, knocks, (k) => k.knockId, (knock) => {
    const inputId = `knock-message-${knock.knockId}`;
    const input = h("input", { id: inputId, type: "text", maxlength: "500",
      "data-testid": "knock-message-input" });
    const message = () => input.value.trim();
    return h("div", { class: "knock-item", "data-testid": "knock-item", "data-knock-id": knock.knockId },
      h("p", { class: "knock-title" }, t("knock.title", { name: knock.displayName })),
      h("label", { for: inputId }, t("knock.messageLabel", { name: knock.displayName })),
      input,
      h("div", { class: "actions" },
        button(t("knock.admit"), () => room.admitKnock(knock.knockId), { "data-testid": "admit-button", class: "primary" }),
        button(t("knock.hold"), () => room.holdKnock(knock.knockId, message()), { "data-testid": "hold-button" }),
        button(t("knock.reject"), () => room.rejectKnock(knock.knockId, message()), { "data-testid": "reject-button" })));
  }, () => {});
}

// --- side panel: chat and people ---------------------------------------------------------------

/**
 * Opens or closes a side panel (`on` omitted: the other way round), e.g. for an embedding
 * page's toggle_chat command.
 * @param {"chat" | "people"} which
 * @param {boolean} [on]
 */
function setPanel(which, on) {
  if (!regions.panel) return;
  if ((on ?? ui.panel !== which) !== (ui.panel === which)) togglePanel(which);
}

/** @param {"chat" | "people"} which */
function togglePanel(which) {
  const before = ui.panel;
  ui.panel = ui.panel === which ? null : which;
  if (ui.panel === "chat") ui.unread = 0;
  // An embedding page hears of it: chat_toggle / people_toggle.
  if (before) bridge.post(`${before}_toggle`, { open: false });
  if (ui.panel) bridge.post(`${ui.panel}_toggle`, { open: true });
  const panel = regions.panel;
  panel.replaceChildren();
  panel.hidden = ui.panel === null;
  panel.dataset.panel = ui.panel ?? "";
  if (ui.panel === "chat") panel.append(...buildChat());
  if (ui.panel === "people") panel.append(...buildPeople());
  render();
  if (ui.panel === "chat") queueMicrotask(() => /** @type {HTMLElement | null} */ (panel.querySelector("[data-testid=chat-input]"))?.focus());
  else if (ui.panel === "people") queueMicrotask(() => /** @type {HTMLElement | null} */ (panel.querySelector("h2"))?.focus());
  else /** @type {HTMLElement | null} */ (regions.controls.querySelector(`[data-testid=${which}-toggle]`))?.focus();
}

/** @param {string} title @param {"chat" | "people"} which @param {string} closeLabel */
function panelHeader(title, which, closeLabel) {
  return h("header", { class: "panel-header" },
    h("h2", { tabindex: "-1" }, title),
    h("button", { type: "button", class: "close", "aria-label": closeLabel, title: closeLabel,
      onclick: () => togglePanel(which) }, "×"));
}

function buildChat() {
  const input = h("textarea", { id: "chat-input", "data-testid": "chat-input", rows: "2",
    maxlength: "4000", placeholder: t("chat.placeholder"),
    onkeydown: (/** @type {KeyboardEvent} */ e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        sendChat();
      }
    } });
  const sendChat = () => {
    const message = room.sendChatMessage(input.value);
    if (message) input.value = "";
    else if (input.value.trim()) notice(t("notice.chatFailed"));
    input.focus();
  };
  return [
    panelHeader(t("chat.title"), "chat", t("chat.close")),
    h("ol", { class: "chat-list", "aria-live": "polite" }),
    h("p", { class: "chat-empty" }, t("chat.empty")),
    h("form", { class: "chat-form", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); sendChat(); } },
      h("label", { for: "chat-input", class: "visually-hidden" }, t("chat.inputLabel")),
      input,
      h("button", { type: "submit", class: "primary", "data-testid": "chat-send" }, t("chat.send"))),
  ];
}

function buildPeople() {
  return [
    panelHeader(t("people.title", { n: 0 }), "people", t("people.close")),
    h("ul", { class: "people-list" }),
  ];
}

/** @type {Intl.DateTimeFormat | null} made on first use: making one costs 20-30 ms */
let timeFormatter = null;

/** @param {Date} when */
function timeOfDay(when) {
  timeFormatter ??= new Intl.DateTimeFormat(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
  return timeFormatter.format(when);
}

function updatePanel() {
  const panel = regions.panel;
  if (ui.panel === "chat") {
    const list = /** @type {HTMLElement} */ (panel.querySelector(".chat-list"));
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const { localParticipant: me, chatMessages } = now();
    const host = me.role === "host";
    syncList(list, chatMessages, (m) => m.messageId, (m) => chatItem(m, host), () => {});
    /** @type {HTMLElement} */ (panel.querySelector(".chat-empty")).hidden = chatMessages.length > 0;
    if (atBottom) list.scrollTop = list.scrollHeight;
  } else if (ui.panel === "people") {
    const { localParticipant: me, remoteParticipants } = now();
    /** @type {(LocalParticipant | RemoteParticipant)[]} */
    const everyone = [...(me.id !== null ? [me] : []), ...remoteParticipants];
    /** @type {HTMLElement} */ (panel.querySelector("h2")).textContent = t("people.title", { n: everyone.length });
    syncList(/** @type {HTMLElement} */ (panel.querySelector(".people-list")), everyone, (p) => String(p.id),
      (p) => personItem(p), updatePersonItem);
  }
}

/** @param {ChatMessage} m @param {boolean} host */
function chatItem(m, host) {
  const when = new Date(m.timestamp);
  const item = h("li", { class: m.isLocal ? "chat-message mine" : "chat-message",
    "data-testid": "chat-message", "data-message-id": m.messageId },
  h("p", { class: "chat-meta" },
    h("span", { class: "chat-author" }, m.isLocal ? t("room.you") : m.displayName),
    " ",
    h("time", { datetime: m.timestamp }, Number.isNaN(when.getTime()) ? "" : timeOfDay(when))),
  h("p", { class: "chat-text" }, m.text));
  if (host) {
    item.append(h("button", { type: "button", class: "chat-delete", "data-testid": "chat-delete",
      "aria-label": t("chat.deleteLabel"), title: t("chat.deleteLabel"),
      onclick: () => room.deleteChatMessage(m.messageId) }, t("chat.delete")));
  }
  return item;
}

/** @param {LocalParticipant | RemoteParticipant} p */
function personItem(p) {
  const item = h("li", { class: "people-item", "data-testid": "people-item", "data-participant-id": p.id },
    h("span", { class: "avatar small", "aria-hidden": "true" }),
    h("span", { class: "person-name" }),
    h("span", { class: "person-role" }),
    h("span", { class: "person-media" }));
  const me = now().localParticipant;
  if (me.role === "host" && p.id !== me.id) {
    const id = String(p.id);
    const actions = h("div", { class: "person-actions" });
    if (p.role !== "viewer") {
      actions.append(
        button(t("people.mute"), () => room.askToMute(id),
          { "data-testid": "mute-button", "aria-label": t("people.muteLabel", { name: p.displayName }) }),
        button(t("people.cameraOff"), () => room.askToTurnOffCamera(id),
          { "data-testid": "camera-off-button", "aria-label": t("people.cameraOffLabel", { name: p.displayName }) }));
    }
    actions.append(button(t("people.remove"), () => room.removeParticipant(id),
      { "data-testid": "remove-button", class: "danger", "aria-label": t("people.removeLabel", { name: p.displayName }) }));
    item.append(actions);
  }
  return item;
}

/** @param {HTMLElement} item @param {LocalParticipant | RemoteParticipant} p */
function updatePersonItem(item, p) {
  const isSelf = p.id === now().localParticipant.id;
  const name = isSelf ? t("room.youSuffix", { name: p.displayName }) : p.displayName;
  /** @type {HTMLElement} */ (item.querySelector(".person-name")).textContent = name;
  /** @type {HTMLElement} */ (item.querySelector(".avatar")).textContent = initials(p.displayName);
  const roleText = p.role === "host" ? t("room.host") : p.role === "viewer" ? t("room.viewer") : "";
  /** @type {HTMLElement} */ (item.querySelector(".person-role")).textContent = roleText;
  const media = /** @type {HTMLElement} */ (item.querySelector(".person-media"));
  const audio = p.isAudioEnabled;
  const video = p.isVideoEnabled;
  const signature = `${p.role !== "viewer"}${audio}${video}`;
  if (media.dataset.signature !== signature) {
    media.dataset.signature = signature;
    media.replaceChildren();
    if (p.role !== "viewer") {
      append(media, [
        h("span", { title: audio ? t("controls.mic") : t("room.micMuted") }, icon("mic", !audio)),
        h("span", { title: video ? t("controls.camera") : t("room.cameraOff") }, icon("camera", !video)),
      ]);
    }
  }
  for (const [testid, on] of /** @type {const} */ ([["mute-button", audio], ["camera-off-button", video]])) {
    const control = /** @type {HTMLButtonElement | null} */ (item.querySelector(`[data-testid=${testid}]`));
    if (control) control.disabled = !on;
  }
}

// --- notices -----------------------------------------------------------------------------------

let noticeId = 0;
/** @param {string} text */
function notice(text) {
  const id = ++noticeId;
  ui.notices.push({ id, text });
  setTimeout(() => {
    ui.notices = ui.notices.filter((n) => n.id !== id);
    render();
  }, NOTICE_MS);
  render();
}

function updateNotices() {
  syncList(regions.notices, ui.notices, (n) => String(n.id),
    (n) => h("p", { class: "notice" }, n.text), () => {});
}

// --- wiring ------------------------------------------------------------------------------------

room.subscribe(render);
room.on("chat_message", (/** @type {ChatMessage} */ message) => {
  if (ui.panel !== "chat" && !message.isLocal) ui.unread += 1;
});
room.on("mute_requested", (/** @type {{kind: string}} */ { kind }) =>
  notice(kind === "audio" ? t("notice.muted") : t("notice.cameraOff")));
room.on("action_failed", (/** @type {{message: string}} */ error) =>
  notice(t("notice.actionFailed", { message: error.message })));
room.on("media_error", () => {
  if (ui.screen === "in_room") notice(t("notice.mediaFailed"));
});
room.on("room_updated", () => notice(now().room?.locked ? t("notice.locked") : t("notice.unlocked")));
room.on("joined", () => {
  ui.unread = 0;
  ui.panel = null;
});
navigator.mediaDevices?.addEventListener?.("devicechange", () => {
  if (ui.screen === "precall") fillDeviceSelects();
});
// Leaving the page leaves the room at once (the SDK's leaveOnPageHide), instead of after the
// server's reconnect grace.

async function boot() {
  if (!window.RTCPeerConnection || !navigator.mediaDevices) {
    ui.fatal = t("error.unsupported");
    render();
    return;
  }
  // An embedding page may send commands from now on.
  bridge.post("ready");
  if (joinsAtOnce(params)) {
    // Camera, microphone and signaling open side by side (joinRoom with localMediaOptions):
    // the join announces the devices being opened, and their tracks go to the peer
    // connections whenever they come.
    await join();
  } else {
    render();
    await startPreview();
  }
  render();
}

setProps(root, { "aria-busy": false });
boot();
