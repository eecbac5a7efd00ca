// Which remote videos the page shows, how large, and whether they can be seen: what a group
// room's SFU client (sfu-link.js) tells the server so it sends each stream at the layer its
// tile needs. Its own module, as the SDK keeps one per room connection whatever the room's
// mode, while sfu-link.js loads only for a group room.

/** What sfu_view accepts (the server refuses more). */
export const MAX_TILE_PIXELS = 16_384;
const PARTICIPANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * @typedef {object} WatchedTile
 * @property {string} participantId
 * @property {"video" | "screen"} kind
 * @property {number} width   device pixels
 * @property {number} height  device pixels
 * @property {boolean} onScreen  some of it is in the viewport
 */

/**
 * Watches the elements that show remote participants' videos: their size in device pixels
 * (ResizeObserver, devicePixelRatio) and whether any of them can be seen (IntersectionObserver,
 * the page's visibility). The SDK keeps one per room connection (`watchVideoTile`); a group
 * room's SfuLink reads it for `sfu_view`. In a page without these observers it reports the
 * size the elements had when they were first watched.
 */
export class TileWatcher {
  constructor() {
    /** @type {Map<Element, WatchedTile>} */
    this.watched = new Map();
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    this.resizes = typeof ResizeObserver === "function"
      ? new ResizeObserver((entries) => this.#resized(entries)) : null;
    this.intersections = typeof IntersectionObserver === "function"
      ? new IntersectionObserver((entries) => this.#intersected(entries)) : null;
    globalThis.document?.addEventListener?.("visibilitychange", () => this.#changed());
  }

  /**
   * Watches `element`, which shows `participantId`'s camera ("video") or screen ("screen").
   * @param {Element} element
   * @param {string} participantId
   * @param {"video" | "screen"} kind
   * @returns {() => void}  stops watching it
   */
  watch(element, participantId, kind) {
    const rect = element.getBoundingClientRect();
    const ratio = globalThis.devicePixelRatio || 1;
    this.watched.set(element, { participantId, kind, width: pixels(rect.width * ratio),
      height: pixels(rect.height * ratio), onScreen: true });
    if (this.resizes) {
      try {
        this.resizes.observe(element, { box: "device-pixel-content-box" });
      } catch {
        this.resizes.observe(element); // a browser without device-pixel boxes
      }
    }
    this.intersections?.observe(element);
    this.#changed();
    return () => this.unwatch(element);
  }

  /** @param {Element} element */
  unwatch(element) {
    if (!this.watched.delete(element)) return;
    this.resizes?.unobserve(element);
    this.intersections?.unobserve(element);
    this.#changed();
  }

  /**
   * Calls `listener` after any tile changed.
   * @param {() => void} listener
   * @returns {() => void}  stops listening
   */
  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The tiles as sfu_view carries them: one per participant and kind (the largest, when a
   * stream is shown twice), hidden ones included (so the server may pause them).
   * @returns {{participantId: string, kind: "video" | "screen", width: number, height: number, visible: boolean}[]}
   */
  tiles() {
    const pageHidden = globalThis.document?.visibilityState === "hidden";
    /** @type {Map<string, {participantId: string, kind: "video" | "screen", width: number, height: number, visible: boolean}>} */
    const byStream = new Map();
    for (const [element, tile] of [...this.watched]) {
      if (element.isConnected === false) {
        this.unwatch(element); // left the page without being unwatched
        continue;
      }
      if (!PARTICIPANT_ID.test(tile.participantId)) continue; // not a participant's id
      const visible = !pageHidden && tile.onScreen && tile.width > 0 && tile.height > 0;
      const entry = { participantId: tile.participantId, kind: tile.kind, width: tile.width,
        height: tile.height, visible };
      const key = `${tile.kind}:${tile.participantId}`;
      const other = byStream.get(key);
      if (!other || (visible && !other.visible) ||
          (visible === other.visible && entry.width * entry.height > other.width * other.height)) {
        byStream.set(key, entry);
      }
    }
    return [...byStream.values()];
  }

  /** @param {ResizeObserverEntry[]} entries */
  #resized(entries) {
    const ratio = globalThis.devicePixelRatio || 1;
    for (const entry of entries) {
      const tile = this.watched.get(entry.target);
      if (!tile) continue;
      const box = entry.devicePixelContentBoxSize?.[0];
      tile.width = pixels(box ? box.inlineSize : entry.contentRect.width * ratio);
      tile.height = pixels(box ? box.blockSize : entry.contentRect.height * ratio);
    }
    this.#changed();
  }

  /** @param {IntersectionObserverEntry[]} entries */
  #intersected(entries) {
    for (const entry of entries) {
      const tile = this.watched.get(entry.target);
      if (tile) tile.onScreen = entry.isIntersecting;
    }
    this.#changed();
  }

  #changed() {
    for (const listener of this.listeners) listener();
  }
}

/** @param {number} value  a size in device pixels, bounded as sfu_view wants it */
function pixels(value) {
  return Math.min(MAX_TILE_PIXELS, Math.max(0, Math.round(value || 0)));
}
