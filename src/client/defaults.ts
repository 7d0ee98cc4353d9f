/** Defaults shared by the commands (kept apart so importing them loads nothing else). */

/** Node URL when neither --addr nor WW_ADDR is given, and where `ww start` listens. */
export const DEFAULT_ADDR = 'ws://127.0.0.1:8420'
