/*
 * RealtimeSocket: a small, dependency-free client for the real-time server.
 *
 *   const socket = new RealtimeSocket({channel: "demo", getToken: async (channel) => ({token, url})});
 *   socket.addEventListener("message", (event) => show(event.detail.channel, event.detail.data));
 *   socket.addEventListener("sync", () => fetchStateFromDjango());
 *   socket.connect();
 *   socket.subscribe("other-channel");  // more channels, each with its own token
 *
 * Events: "open", "live" {channel}, "message" {channel, id, data}, "sync" {reason},
 * "reconnecting" {delay, code, unreachable, url, start}, "error" {channel, error}.
 * "reconnecting" says `unreachable` after three tries in a row without a socket that opened;
 * RealtimeSocket.notAnswering(detail) puts that in words, with how to start the server when
 * the token endpoint says (in development: `start`).
 *
 * After any close it reconnects by itself and resumes each channel after the last event it
 * received (the server replays what was missed, from its history), so a short disconnect
 * costs nothing. "live" fires whenever the first channel is subscribed again. "sync" fires
 * when the page must fetch the current state from Django: on the first connect, and when
 * the server says its history no longer reaches back (a long disconnect, a restarted
 * server without Redis). Reconnects back off exponentially (0.5 s doubling to 30 s) with
 * random jitter, so a restarted server is not hit by every browser at the same instant.
 * Each connect asks getToken() for a fresh token, because tokens expire within a minute.
 */
(function (global) {
  "use strict";

  class RealtimeSocket extends EventTarget {
    constructor({ channel, getToken, minDelay = 500, maxDelay = 30000 }) {
      super();
      this.channel = channel;
      this.getToken = getToken;
      this.minDelay = minDelay;
      this.maxDelay = maxDelay;
      this.channels = new Set([channel]);
      this.lastIds = new Map();  // channel -> the ID of the last event received: where to resume
      this.attempt = 0;
      this.stopped = false;
      this.socket = null;
    }

    async connect() {
      if (this.stopped) return;
      let grant;
      try {
        grant = await this.getToken(this.channel);
      } catch (error) {
        return this.retry(0);
      }
      this.grant = grant;
      const since = this.lastIds.get(this.channel);
      const query = `channel=${encodeURIComponent(this.channel)}` + (since ? `&since=${encodeURIComponent(since)}` : "");
      const socket = new WebSocket(`${grant.url}?${query}`, ["realtime", grant.token]);  // the token: a header, not the URL
      this.socket = socket;
      socket.onopen = () => {
        this.attempt = 0;
        this.emit("open");
        for (const channel of this.channels) if (channel !== this.channel) this.sendSubscribe(channel);
      };
      socket.onmessage = (event) => this.receive(event.data);
      socket.onclose = (event) => {
        if (this.socket === socket) this.socket = null;
        this.retry(event.code);
      };
    }

    receive(text) {
      let message;
      try {
        message = JSON.parse(text);
      } catch (error) {
        return;
      }
      if (message.type === "message") {
        if (message.id) this.lastIds.set(message.channel, message.id);
        this.emit("message", { channel: message.channel, id: message.id, data: message.data });
      } else if (message.type === "subscribed" && message.channel === this.channel) {
        this.emit("live", { channel: message.channel });
        if (!this.lastIds.has(message.channel)) this.emit("sync", { reason: "connected" });
      } else if (message.type === "resync") {
        if (message.channel) this.lastIds.delete(message.channel);
        else this.lastIds.clear();
        this.emit("sync", { reason: "events may have been lost" });
      } else if (message.type === "error") this.emit("error", message);
    }

    retry(code) {
      if (this.stopped) return;
      const delay = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt++) * (0.5 + Math.random());
      const { url, start } = this.grant || {};
      this.emit("reconnecting", { delay, code, unreachable: this.attempt >= 3, url, start });
      setTimeout(() => this.connect(), delay);
    }

    async subscribe(channel) {
      this.channels.add(channel);
      if (this.socket && this.socket.readyState === WebSocket.OPEN) await this.sendSubscribe(channel);
    }

    async sendSubscribe(channel) {
      const grant = await this.getToken(channel);
      const since = this.lastIds.get(channel);
      this.socket?.send(JSON.stringify({ type: "subscribe", channel, token: grant.token, ...(since && { since }) }));
    }

    unsubscribe(channel) {
      this.channels.delete(channel);
      this.lastIds.delete(channel);
      if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: "unsubscribe", channel }));
    }

    close() {
      this.stopped = true;
      this.socket?.close(1000);
    }

    emit(type, detail) {
      this.dispatchEvent(new CustomEvent(type, { detail }));
    }

    static notAnswering({ url, start }) {
      const how = start ? ` If it is not running, start it beside Django: ${start}` : "";
      return `Not connected: the real-time server at ${url || "its address"} does not answer.${how}`;
    }
  }

  global.RealtimeSocket = RealtimeSocket;
})(window);
