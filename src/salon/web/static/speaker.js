// Who is speaking: a pure decision from audio levels sampled over time, with hysteresis so
// the highlight does not flicker between two people talking at once.

/**
 * @typedef {object} SpeakerState
 * @property {string | null} speaker   the participant highlighted now
 * @property {number} lastLoud         when the speaker was last above the threshold (ms)
 */

export const SPEAKING_LEVEL = 0.03; // audioLevel (0..1) above which someone counts as speaking
export const HOLD_MS = 1200; // how long a quiet speaker keeps the highlight
export const TAKEOVER_RATIO = 1.5; // how much louder another must be to take it over

/** @type {SpeakerState} */
export const NO_SPEAKER = Object.freeze({ speaker: null, lastLoud: 0 });

/**
 * The next state, from the levels heard now.
 * @param {SpeakerState} state
 * @param {Map<string, number>} levels  participant id -> audio level 0..1 (muted people: absent)
 * @param {number} now                  time in ms
 * @returns {SpeakerState}
 */
export function nextSpeaker(state, levels, now) {
  let loudest = null;
  let loudestLevel = 0;
  for (const [id, level] of levels) {
    if (level > loudestLevel) {
      loudest = id;
      loudestLevel = level;
    }
  }
  const current = state.speaker;
  const currentLevel = current === null ? 0 : (levels.get(current) ?? 0);
  if (current !== null && currentLevel >= SPEAKING_LEVEL) {
    // The speaker goes on talking: only someone clearly louder takes over.
    if (loudest !== current && loudestLevel >= currentLevel * TAKEOVER_RATIO) {
      return { speaker: loudest, lastLoud: now };
    }
    return { speaker: current, lastLoud: now };
  }
  if (loudest !== null && loudestLevel >= SPEAKING_LEVEL) {
    return { speaker: loudest, lastLoud: now };
  }
  if (current !== null && now - state.lastLoud < HOLD_MS && levels.has(current)) {
    return state;
  }
  return current === null ? state : { speaker: null, lastLoud: state.lastLoud };
}
