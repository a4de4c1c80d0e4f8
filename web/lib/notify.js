// Browser notifications: asked for from a click, shown by exactly one tab per message.

export function notificationsSupported() {
  return typeof Notification !== 'undefined';
}

export function notificationPermission() {
  return notificationsSupported() ? Notification.permission : 'unsupported';
}

/** Must be called from a user gesture (a click), or browsers ignore it. */
export async function askPermission() {
  if (!notificationsSupported()) return 'unsupported';
  return Notification.requestPermission();
}

async function claim(key) {
  // Web Locks serialize the check-and-set across tabs of this origin, so exactly one tab wins
  const check = () => {
    if (localStorage.getItem(key)) return false;
    localStorage.setItem(key, String(Date.now()));
    return true;
  };
  if (navigator.locks) return navigator.locks.request('webchat-notify', check);
  return check();
}

function forgetOldClaims() {
  const cutoff = Date.now() - 10 * 60_000;
  for (let i = localStorage.length - 1; i >= 0; i--) {
    const key = localStorage.key(i);
    if (key && key.startsWith('webchat-notified:') && Number(localStorage.getItem(key)) < cutoff) {
      localStorage.removeItem(key);
    }
  }
}

export async function notifyOnce(message, title, onClick) {
  if (notificationPermission() !== 'granted') return null;
  if (!(await claim(`webchat-notified:${message.chat_id}:${message.seq}`))) return null;
  forgetOldClaims();
  const body = message.deleted ? '' : (message.text || (message.media_type === 'image' ? 'Image' : 'Voice message'));
  const n = new Notification(title, {body: `${message.sender_name}: ${body}`.slice(0, 200), tag: `webchat-chat-${message.chat_id}`});
  n.onclick = () => {
    window.focus();
    onClick();
    n.close();
  };
  return n;
}
