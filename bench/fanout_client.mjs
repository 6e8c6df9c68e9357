// Bench client: open COUNT sockets, print "ready", receive MESSAGES events on each,
// print {"latencies": [seconds...], "first", "last"}. Node's built-in WebSocket, so the
// clients cost less CPU than the servers they measure (the Python clients did not).
// node --experimental-websocket fanout_client.mjs URL COUNT MESSAGES [PROTOCOL TOKEN]
const [url, count, messages, ...protocols] = process.argv.slice(2);
const latencies = [];
let first = null;
let last = null;
let done = 0;
let quiet = null;

function finish() {
  process.stdout.write(JSON.stringify({ latencies, first, last }) + "\n", () => process.exit(0));
}

function arm() {
  clearTimeout(quiet);
  quiet = setTimeout(finish, 20000);  // nothing for 20 s: the rest is lost
}

const sockets = [];
let open = 0;
for (let i = 0; i < Number(count); i++) {
  const socket = new WebSocket(url, protocols.length ? protocols : undefined);
  let got = 0;
  let ready = protocols.length === 0;  // the add-on answers {"type": "subscribed"} first
  socket.onopen = () => { if (ready && ++open === Number(count)) console.log("ready"); };
  socket.onmessage = (event) => {
    const now = Date.now() / 1000;
    const message = JSON.parse(event.data);
    if (message.type === "subscribed") {
      ready = true;
      if (++open === Number(count)) console.log("ready");
      return;
    }
    const data = message.data ?? message;
    latencies.push(now - data.sent);
    first = first === null ? now : Math.min(first, now);
    last = last === null ? now : Math.max(last, now);
    arm();
    if (++got === Number(messages) && ++done === Number(count)) finish();
  };
  sockets.push(socket);
}
