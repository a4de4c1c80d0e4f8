// Voice notes: record from the microphone with MediaRecorder, measure the level while recording,
// and hand back the recording with its duration and a waveform. Loaded on the first press of the
// microphone button, not with the conversation.

// the first of these the browser records is used: Ogg first because the server can read an Ogg
// file's duration (WebM from MediaRecorder states none), then WebM (Chromium), then AAC in MP4 (Safari)
const TYPES = ['audio/ogg;codecs=opus', 'audio/webm;codecs=opus', 'audio/mp4;codecs=mp4a.40.2', 'audio/mp4',
  'audio/webm', 'audio/ogg'];
const EXTENSIONS = {'audio/ogg': 'ogg', 'audio/webm': 'webm', 'audio/mp4': 'm4a'};
const WAVEFORM_MAX = 128;
// Opus speech is clear at 32 kbit/s: five minutes stay near 1.2 MB, well under the upload cap
const BITS_PER_SECOND = 32000;

/** Why recording cannot start, in words for the person at the keyboard. */
export function refusal(err) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return 'The microphone is blocked for this page. To send a voice message, allow the microphone in your '
      + 'browser\'s site settings (the icon beside the address) and try again.';
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'No microphone was found on this device.';
  if (name === 'NotReadableError' || name === 'AbortError') {
    return 'The microphone is in use by another program, or could not be started. Close it there and try again.';
  }
  if (name === 'Unsupported') return err.message;
  return 'The microphone could not be started.';
}

function unsupported(message) {
  const err = new Error(message);
  err.name = 'Unsupported';
  return err;
}

/** `levels` (0..1, one per tick) squeezed into at most 128 values 0..255, loudest bucket sample kept. */
export function waveformOf(levels) {
  if (!levels.length) return [];
  const n = Math.min(WAVEFORM_MAX, levels.length);
  const out = [];
  for (let i = 0; i < n; i++) {
    const from = Math.floor((i * levels.length) / n);
    const to = Math.max(from + 1, Math.floor(((i + 1) * levels.length) / n));
    let peak = 0;
    for (let j = from; j < to; j++) peak = Math.max(peak, levels[j]);
    out.push(Math.min(255, Math.round(peak * 255)));
  }
  const top = Math.max(...out);
  // scaled so the loudest moment fills the height: a quiet speaker still shows a shape
  return top > 0 ? out.map((v) => Math.round((v * 255) / top)) : out;
}

export class Recorder {
  /** onLevel(0..1) about 20 times a second; onTick(ms); onLimit() when `maxMs` is reached. */
  constructor({maxMs, onLevel = () => {}, onTick = () => {}, onLimit = () => {}}) {
    Object.assign(this, {maxMs, onLevel, onTick, onLimit});
    this.levels = [];
    this.chunks = [];
  }

  async start() {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw unsupported('Voice messages need a secure (https) page and a browser that can use a microphone.');
    }
    if (typeof MediaRecorder === 'undefined') throw unsupported('This browser cannot record audio.');
    this.stream = await navigator.mediaDevices.getUserMedia({audio: {echoCancellation: true, noiseSuppression: true}});
    const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t)) || '';
    this.recorder = new MediaRecorder(this.stream, {...(mimeType ? {mimeType} : {}), audioBitsPerSecond: BITS_PER_SECOND});
    this.recorder.ondataavailable = (e) => { if (e.data.size) this.chunks.push(e.data); };
    this._meter();
    const started = new Promise((resolve) => { this.recorder.onstart = resolve; });
    this.recorder.start(1000);
    await started;
    this.startedAt = performance.now();
    this.timer = setInterval(() => this._tick(), 50);
  }

  get elapsed() { return this.startedAt ? performance.now() - this.startedAt : 0; }

  _meter() {
    try {
      this.audio = new AudioContext();
      const source = this.audio.createMediaStreamSource(this.stream);
      this.analyser = this.audio.createAnalyser();
      this.analyser.fftSize = 1024;
      source.connect(this.analyser);
      this.samples = new Float32Array(this.analyser.fftSize);
    } catch {
      this.analyser = null; // no level meter, the recording still works
    }
  }

  _tick() {
    let level = 0;
    if (this.analyser) {
      this.analyser.getFloatTimeDomainData(this.samples);
      let sum = 0;
      for (const s of this.samples) sum += s * s;
      // RMS on a square-root scale: speech sits in the lower tenth of the linear range
      level = Math.min(1, Math.sqrt(Math.sqrt(sum / this.samples.length)) * 1.4);
    }
    this.levels.push(level);
    this.onLevel(level);
    const ms = this.elapsed;
    this.onTick(ms);
    if (ms >= this.maxMs) this.onLimit();
  }

  /** Stop and return {file, duration_ms, waveform}; the file is labelled with the type recorded. */
  async stop() {
    const rec = this.recorder;
    const durationMs = Math.max(1, Math.round(Math.min(this.elapsed, this.maxMs)));
    const stopped = new Promise((resolve) => { rec.onstop = resolve; });
    if (rec.state !== 'inactive') rec.stop();
    await stopped;
    this._release();
    const type = (rec.mimeType || this.chunks[0]?.type || 'audio/webm').split(';')[0].trim()
      .replace(/^video\//, 'audio/');
    const file = new File(this.chunks, `voice-note.${EXTENSIONS[type] || 'webm'}`, {type});
    return {file, duration_ms: durationMs, waveform: waveformOf(this.levels)};
  }

  cancel() {
    if (this.recorder && this.recorder.state !== 'inactive') {
      this.recorder.ondataavailable = null;
      this.recorder.stop();
    }
    this._release();
  }

  _release() {
    clearInterval(this.timer);
    this.stream?.getTracks().forEach((t) => t.stop());
    this.audio?.close().catch(() => {});
    this.audio = null;
  }
}
