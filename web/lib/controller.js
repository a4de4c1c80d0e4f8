// The one way components follow the client: a Lit reactive controller that re-renders its host
// whenever the client changes (changes are coalesced: one render per task, however many events).

export class ClientController {
  /** @param {import('lit').ReactiveControllerHost & {client?: EventTarget}} host */
  constructor(host) {
    this.host = host;
    this._client = null;
    this._onChange = () => host.requestUpdate();
    host.addController(this);
  }

  hostConnected() { this._follow(this.host.client); }
  hostDisconnected() { this._follow(null); }

  // the host's `client` property may be set or replaced at any time: follow whichever it holds
  hostUpdate() { if (this.host.isConnected) this._follow(this.host.client); }

  _follow(client) {
    if (client === this._client) return;
    this._client?.removeEventListener('change', this._onChange);
    this._client = client || null;
    this._client?.addEventListener('change', this._onChange);
  }
}
