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

function claim(key) {
  const taken = () => Boolean(localStorage.getItem(key));
  const take = () => localStorage.setItem(key, String(Date.now()));
  if (!navigator.locks) {
    if (taken()) return Promise.resolve(false);
    take();
    return Promise.resolve(true);
  }
  // One lock per message, held for a minute by the tab that wins it: the others fail to get it.
  // localStorage alone is not enough (another tab may still read the old value for a moment);
  // it only tells a tab that handles the message after the lock was released.
  return new Promise((resolve) => {
    navigator.locks.request(key, {ifAvailable: true}, (lock) => {
      if (!lock || taken()) {
        resolve(false);
        return undefined;
      }
      take();
      resolve(true);
      return new Promise((release) => setTimeout(release, 60_000));
    });
  });
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
