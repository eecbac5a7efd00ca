// Building DOM without innerHTML: every text goes in as text, so a display name or a chat
// message can never become markup. Also the few inline icons the controls use.

/** Properties set as properties, not attributes (they have no attribute, or it means less). */
const PROPERTIES = new Set(["value", "muted", "srcObject", "playsInline", "autoplay", "disabled",
  "hidden", "checked", "selected", "textContent"]);

/**
 * @typedef {Record<string, unknown>} Props
 * `onclick: fn` adds a listener; PROPERTIES are set as properties; null, undefined and false
 * leave an attribute out; true sets it empty.
 */

/**
 * Creates an element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = null, ...children) {
  const el = document.createElement(tag);
  setProps(el, props ?? {});
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {Props} props
 */
export function setProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    } else if (PROPERTIES.has(key)) {
      /** @type {any} */ (el)[key] = value;
    } else if (value === null || value === undefined || value === false) {
      el.removeAttribute(key);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

/**
 * @param {Element} el
 * @param {(Node | string | null | undefined | false)[]} children
 */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/**
 * Makes `container`'s children match `items`, one element per key, reusing the elements of
 * keys that stay (so a playing <video> or a focused button survives an update).
 * @template T
 * @param {Element} container
 * @param {T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} create
 * @param {(el: HTMLElement, item: T) => void} update
 */
export function syncList(container, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const child of [...container.children]) {
    const key = /** @type {HTMLElement} */ (child).dataset.key;
    if (key !== undefined) existing.set(key, /** @type {HTMLElement} */ (child));
  }
  /** @type {HTMLElement | null} */
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let el = existing.get(key);
    existing.delete(key);
    if (!el) {
      el = create(item);
      el.dataset.key = key;
    }
    update(el, item);
    /** @type {Element | null} */
    const expected = previous ? previous.nextElementSibling : container.firstElementChild;
    if (expected !== el) container.insertBefore(el, expected);
    previous = el;
  }
  for (const el of existing.values()) el.remove();
}

const SVG = "http://www.w3.org/2000/svg";

// 24x24 line icons, drawn for Salon: [element, attributes] lists.
/** @type {Record<string, [string, Record<string, string>][]>} */
const ICONS = {
  mic: [
    ["rect", { x: "9", y: "3", width: "6", height: "11", rx: "3" }],
    ["path", { d: "M5 11a7 7 0 0 0 14 0M12 18v3M8 21h8" }],
  ],
  camera: [
    ["rect", { x: "3", y: "6", width: "13", height: "12", rx: "2" }],
    ["path", { d: "M16 10l5-3v10l-5-3z" }],
  ],
  screen: [
    ["rect", { x: "3", y: "4", width: "18", height: "12", rx: "2" }],
    ["path", { d: "M8 20h8M12 16v4M12 13V7M9 10l3-3 3 3" }],
  ],
  chat: [["path", { d: "M4 5h16v11H9l-5 4z" }]],
  people: [
    ["circle", { cx: "9", cy: "8", r: "3.5" }],
    ["path", { d: "M3 20c0-3.5 2.7-6 6-6s6 2.5 6 6M16 4.5a3.5 3.5 0 0 1 0 7M18 14c2 .8 3 3 3 6" }],
  ],
  lock: [
    ["rect", { x: "5", y: "11", width: "14", height: "10", rx: "2" }],
    ["path", { d: "M8 11V8a4 4 0 0 1 8 0v3" }],
  ],
  unlock: [
    ["rect", { x: "5", y: "11", width: "14", height: "10", rx: "2" }],
    ["path", { d: "M8 11V8a4 4 0 0 1 7.5-2" }],
  ],
  leave: [["path", { d: "M14 4h5v16h-5M10 8l-4 4 4 4M6 12h10" }]],
  end: [
    ["circle", { cx: "12", cy: "12", r: "9" }],
    ["path", { d: "M9 9l6 6M15 9l-6 6" }],
  ],
  slash: [["path", { d: "M4 4l16 16" }]],
};

/**
 * An inline SVG icon; `off` draws a slash across it.
 * @param {string} name
 * @param {boolean} [off]
 * @returns {SVGSVGElement}
 */
export function icon(name, off = false) {
  const svg = /** @type {SVGSVGElement} */ (document.createElementNS(SVG, "svg"));
  for (const [k, v] of Object.entries({
    viewBox: "0 0 24 24", width: "24", height: "24", fill: "none", stroke: "currentColor",
    "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round",
    "aria-hidden": "true", focusable: "false", class: "icon",
  })) svg.setAttribute(k, v);
  for (const [tag, attrs] of [...(ICONS[name] ?? []), ...(off ? ICONS.slash : [])]) {
    const shape = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) shape.setAttribute(k, v);
    svg.append(shape);
  }
  return svg;
}
