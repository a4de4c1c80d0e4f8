// A short chime made with WebAudio (no sound file to fetch): the launcher's and the inbox's.

let audio = null;

export function audioContext() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  audio ||= new Context();
  // autoplay rules keep a context suspended until the visitor has interacted with the page: the
  // launcher (and the inbox) resume it on the user's clicks, so a later chime can sound
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  return audio;
}

/** A short two-note chime made with WebAudio (no sound file to fetch). */
export function chime() {
  const audio = audioContext();
  if (!audio) return false;
  const now = audio.currentTime;
  [[0, 880], [0.12, 1318.5]].forEach(([delay, freq]) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, now + delay);
    gain.gain.exponentialRampToValueAtTime(0.12, now + delay + 0.015);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + delay + 0.3);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + delay);
    osc.stop(now + delay + 0.32);
  });
  return true;
}
