// Bench client: open COUNT sockets, print "ready", receive MESSAGES events on each, then
// print {"latencies": [seconds...], "first", "last", "failed"}. Node's built-in WebSocket,
// so the clients cost less CPU than the servers they measure (Python clients did not).
// node --experimental-websocket fanout_client.mjs URL COUNT MESSAGES [PROTOCOL TOKEN]
const [url, countText, messagesText, ...protocols] = process.argv.slice(2);
const count = Number(countText);
const messages = Number(messagesText);
const latencies = [];
let first = null;
let last = null;
let open = 0;
let failed = 0;  // sockets that never opened: their events count as lost
let done = 0;
let announced = false;
let heard = 0;  // when the last event arrived (ms)

function finish() {
  process.stdout.write(JSON.stringify({ latencies, first, last, failed }) + "\n", () => process.exit(0));
}

function arm() {
  // Nothing for 20 s once events flow (or for 120 s before the first, while the other
  // client processes still connect): the rest is lost. One timer, not one per event:
  // re-arming a timer for each of 20,000 events a second was a large share of the clients' CPU.
  const armed = Date.now();
  setInterval(() => {
    const now = Date.now();
    if (heard ? now - heard > 20000 : now - armed > 120000) finish();
  }, 1000);
}

function announce() {
  if (!announced) {
    announced = true;
    console.log("ready");
    arm();
  }
}

function settled() {
  if (open + failed === count) announce();
}

setTimeout(announce, 60000);  // stragglers still connecting after 60 s count as failed

for (let i = 0; i < count; i++) {
  const socket = new WebSocket(url, protocols.length ? protocols : undefined);
  let counted = false;  // open or failed, once
  let got = 0;
  const opened = () => { if (!counted) { counted = true; open++; settled(); } };
  const lost = () => { if (!counted) { counted = true; failed++; settled(); } };
  socket.onopen = () => { if (!protocols.length) opened(); };  // the add-on says "subscribed" first
  socket.onerror = lost;
  socket.onclose = lost;
  socket.onmessage = (event) => {
    const now = Date.now() / 1000;
    const message = JSON.parse(event.data);
    if (message.type === "subscribed") return opened();
    const data = message.data ?? message;
    heard = now * 1000;
    if (data.seq < 0) return;  // a warm-up event: not measured
    latencies.push(now - data.sent);
    first = first === null ? now : Math.min(first, now);
    last = last === null ? now : Math.max(last, now);
    if (++got === messages && ++done === open) finish();
  };
}
