// The virtual wallet, in the browser: answers `navigator.credentials.get({digital})` the
// way Android's TS.43 phone-number credential provider would, by asking the virtual
// operator's wallet (POST {base}/virtual-wallet) for the presentation. Sandbox only: it
// proves nothing about a real SIM.
//
// Use it as
// - a Playwright init script: `await page.addInitScript({ path: 'support/virtual-wallet.js' })`;
// - a devtools snippet or userscript (docs/virtual-operator.md, "The virtual wallet in a
//   browser"): it must run before the page asks for a credential.
//
// The wallet is `${location.origin}/sandbox` unless `globalThis.NV_VIRTUAL_WALLET_BASE`
// names another base (set it first, e.g. in an earlier init script). The request carries
// the page's cookies, so the simulated SIM the page's "Simulated SIM" control chose
// (`sandbox_sim`) is the wallet's SIM too.
(() => {
  'use strict';
  const PROTOCOL = 'openid4vp-v1-unsigned';
  if (globalThis.__nvVirtualWallet) return;

  const base = () =>
    String(globalThis.NV_VIRTUAL_WALLET_BASE || `${location.origin}/sandbox`).replace(/\/+$/, '');

  // A `DigitalCredential` to return: the browser's own class when it has one (its
  // constructor is not callable, so an object with its prototype), else a stand-in.
  const Native = globalThis.DigitalCredential;
  if (typeof Native !== 'function') {
    class DigitalCredential {
      constructor(protocol, data) {
        Object.defineProperties(this, {
          id: { value: '', enumerable: true },
          type: { value: 'digital', enumerable: true },
          protocol: { value: protocol, enumerable: true },
          data: { value: data, enumerable: true },
        });
      }
      toJSON() {
        return { type: this.type, protocol: this.protocol, data: this.data };
      }
      static userAgentAllowsProtocol(protocol) {
        return protocol === PROTOCOL;
      }
    }
    Object.defineProperty(globalThis, 'DigitalCredential', {
      value: DigitalCredential, configurable: true, writable: true,
    });
  }
  const credential = (protocol, data) => {
    if (typeof Native !== 'function') return new globalThis.DigitalCredential(protocol, data);
    return Object.create(Native.prototype, {
      id: { value: '', enumerable: true },
      type: { value: 'digital', enumerable: true },
      protocol: { value: protocol, enumerable: true },
      data: { value: data, enumerable: true },
      toJSON: { value: () => ({ type: 'digital', protocol, data }) },
    });
  };

  // The DC API's request list: `requests: [{protocol, data}]`, or the older
  // `providers: [{protocol, request}]` with the data as JSON text.
  const requestsOf = (digital) => {
    if (Array.isArray(digital.requests)) return digital.requests;
    if (Array.isArray(digital.providers)) {
      return digital.providers.map((p) => ({
        protocol: p.protocol,
        data: typeof p.request === 'string' ? JSON.parse(p.request) : p.request,
      }));
    }
    return [];
  };

  const container = navigator.credentials;
  const original = container && typeof container.get === 'function' ? container.get.bind(container) : null;

  async function get(options) {
    if (!options || !options.digital) {
      if (original) return original(options);
      throw new DOMException('No credential manager in this context.', 'NotSupportedError');
    }
    const signal = options.signal;
    if (signal && signal.aborted) throw signal.reason ?? new DOMException('Aborted.', 'AbortError');
    const request = requestsOf(options.digital).find((r) => r && r.protocol === PROTOCOL);
    if (!request) {
      throw new DOMException(`The virtual wallet answers ${PROTOCOL} requests only.`, 'NotSupportedError');
    }
    let response;
    try {
      response = await fetch(`${base()}/virtual-wallet`, {
        method: 'POST',
        credentials: 'include',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ protocol: request.protocol, data: request.data, origin: location.origin }),
        signal,
      });
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new DOMException(`The virtual wallet cannot be reached at ${base()}.`, 'NetworkError');
    }
    const body = await response.json().catch(() => null);
    if (!response.ok || !body || typeof body.vp_token !== 'object') {
      const why = (body && body.error_description) || `HTTP ${response.status}`;
      // As a real wallet, refusals surface as NotAllowedError (no credential, declined).
      throw new DOMException(`Virtual wallet: ${why}`, 'NotAllowedError');
    }
    return credential(request.protocol, body);
  }

  if (container) {
    Object.defineProperty(container, 'get', { value: get, configurable: true, writable: true });
  } else {
    Object.defineProperty(navigator, 'credentials', {
      value: { get, store: async () => undefined, create: async () => null, preventSilentAccess: async () => undefined },
      configurable: true,
    });
  }
  Object.defineProperty(globalThis, '__nvVirtualWallet', { value: { protocol: PROTOCOL, base } });
})();
