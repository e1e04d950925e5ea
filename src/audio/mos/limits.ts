// Limits of the predicted-MOS worker (no side effects: tests and the CLI import them).

/** Shorter audio is repeated to fill a window by the reference; below 1 s that is a buzz, not speech. */
export const MOS_MIN_SECONDS = 1;
/** Peak below -80 dBFS: digital silence or dither, nothing for a quality model to rate. */
export const MOS_SILENCE_PEAK = 1e-4;

/**
 * Default nice value of the inference thread (monitoring.mos_nice). Not 19: at 19 the thread gets about 1.5 % of a core against
 * any busy process (CFS weight 15 vs 1024), so on a loaded host a clip waited minutes; at 10
 * (weight 110) it still yields to the event loop and the analyser. On a host whose cores other
 * processes keep busy, any nice value above 0 starves: 0 competes equally.
 */
export const MOS_WORKER_NICE = 10;
