/*
 * RealtimeSocket: a small, dependency-free client for the real-time server.
 *
 *   const socket = new RealtimeSocket({channel: "demo", getToken: async (channel) => ({token, url})});
 *   socket.addEventListener("message", (event) => show(event.detail.channel, event.detail.data));
 *   socket.addEventListener("sync", () => fetchStateFromDjango());
 *   socket.connect();
 *   socket.subscribe("other-channel");  // more channels, each with its own token
 *
 * Events: "open", "message" {channel, data}, "sync" {reason}, "reconnecting" {delay, code},
 * "error" {channel, error}.
 *
 * Delivery is at-most-once: events sent while this page was disconnected are gone.
 * So "sync" fires once the socket is subscribed after every (re)connect, and when the
 * server says events may have been lost; fetch the current state from Django then.
 * Reconnects back off exponentially (0.5 s doubling to 30 s) with random jitter, so a
 * restarted server is not hit by every browser at the same instant. Each connect asks
 * getToken() for a fresh token, because tokens expire within a minute.
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
      const url = `${grant.url}?channel=${encodeURIComponent(this.channel)}`;
      const socket = new WebSocket(url, ["realtime", grant.token]);  // the token travels in a header, not the URL
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
      if (message.type === "message") this.emit("message", { channel: message.channel, data: message.data });
      else if (message.type === "subscribed" && message.channel === this.channel) this.emit("sync", { reason: "connected" });
      else if (message.type === "resync") this.emit("sync", { reason: "events may have been lost" });
      else if (message.type === "error") this.emit("error", message);
    }

    retry(code) {
      if (this.stopped) return;
      const delay = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt++) * (0.5 + Math.random());
      this.emit("reconnecting", { delay, code });
      setTimeout(() => this.connect(), delay);
    }

    async subscribe(channel) {
      this.channels.add(channel);
      if (this.socket && this.socket.readyState === WebSocket.OPEN) await this.sendSubscribe(channel);
    }

    async sendSubscribe(channel) {
      const grant = await this.getToken(channel);
      this.socket?.send(JSON.stringify({ type: "subscribe", channel, token: grant.token }));
    }

    unsubscribe(channel) {
      this.channels.delete(channel);
      if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: "unsubscribe", channel }));
    }

    close() {
      this.stopped = true;
      this.socket?.close(1000);
    }

    emit(type, detail) {
      this.dispatchEvent(new CustomEvent(type, { detail }));
    }
  }

  global.RealtimeSocket = RealtimeSocket;
})(window);
