/*
 * The task board in the browser: one ES module, no build step, no framework.
 *
 * The board is what the REST API says it is. This page fetches it (GET /api/board/tasks/),
 * changes it with PATCH, POST and DELETE, and listens on the real-time channel "board" for
 * everyone else's changes. Three rules keep every open board right:
 *
 * 1. Every change carries the ETag of the task as this page last saw it (If-Match). If
 *    someone changed the task meanwhile the API answers 412 with the task as it is now,
 *    and the page shows that instead of overwriting it.
 * 2. Events are applied only when newer than what the page has (each task has a version).
 * 3. Events can be lost while the socket is down, so after every (re)connect, and when the
 *    server says so, the page fetches the whole board again. It sends the list's ETag in
 *    If-None-Match; when nothing changed the answer is a 304 without a body.
 * 4. A change's answer says whether its event reached the real-time broker (Realtime-Event:
 *    sent or dropped). When it did not, the page says so and does not show "Live": nobody
 *    else's board got the change, whatever this page's socket is doing.
 *
 * One module on purpose: Django's manifest storage gives static files hashed names but does
 * not rewrite `import` lines, so a second module would be loaded by its unhashed name.
 * Everything runs under the strict Content-Security-Policy: no inline code or styles, and the
 * page's data comes from the JSON in <script id="board-config" type="application/json">.
 */

const config = JSON.parse(document.getElementById("board-config").textContent);
const STATUSES = config.statuses.map(({ value }) => value);
const LABELS = Object.fromEntries(config.statuses.map(({ value, label }) => [value, label]));
const FIELDS = ["title", "description", "status", "assignee", "sprint"]; // what the editor changes

// ---------------------------------------------------------------- HTTP, with ETags

class ApiError extends Error {
  constructor(response, body) {
    super(body?.detail ?? `The server answered ${response.status} ${response.statusText}.`);
    this.status = response.status;
    this.body = body;
  }
}

async function api(url, { method = "GET", body, ifMatch, ifNoneMatch } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = config.csrfToken; // the session's writes need it
  if (ifMatch) headers["If-Match"] = ifMatch;
  if (ifNoneMatch) headers["If-None-Match"] = ifNoneMatch;
  // "no-store": this code keeps the ETags and revalidates itself, so the browser's cache stays out of it.
  const response = await fetch(url, { method, headers, body: JSON.stringify(body), cache: "no-store" });
  if (response.status === 401) location.assign(`${config.loginUrl}?next=${encodeURIComponent(location.pathname)}`);
  const data = response.status === 204 || response.status === 304 ? null : await response.json().catch(() => null);
  if (!response.ok && response.status !== 304) throw new ApiError(response, data);
  if (method !== "GET") delivered(response.headers.get("Realtime-Event"));
  return { response, data };
}

const taskUrl = (id) => `${config.tasksUrl}${id}/`;

// ---------------------------------------------------------------- State

const tasks = new Map(); // id -> the task as the API last showed it, "etag" included
const deleted = new Set(); // ids deleted while this page is open: a late event must not bring one back
const moving = new Map(); // id -> {status, position, seq}: moves shown before the API confirms them
const sprints = new Map();
let listEtag = null; // the ETag of the list as fetched, while nothing has changed since
let sprintFilter = "";
let loaded = false; // the first fetch of the board is done
let moveSeq = 0;

/** Keep `task` unless this page already has a newer version; true if the board changed. */
function remember(task) {
  const known = tasks.get(task.id);
  if (deleted.has(task.id) || (known && known.version > task.version) || known?.etag === task.etag) return false;
  tasks.set(task.id, task);
  listEtag = null; // the board now differs from the list that ETag named
  return true;
}

function forget(id) {
  deleted.add(id);
  listEtag = null;
  return tasks.delete(id);
}

/** A task as shown: with the move the user just made, while the API has not answered yet. */
function shown(task) {
  const move = moving.get(task.id);
  return move ? { ...task, status: move.status, position: move.position } : task;
}

function column(status, except = null) {
  return [...tasks.values()]
    .map(shown)
    .filter((task) => task.status === status && task.id !== except)
    .filter((task) => !sprintFilter || String(task.sprint) === sprintFilter)
    .sort((a, b) => a.position - b.position || a.id - b.id);
}

/** The position that puts a task at `index` among `others`: between its neighbours, none of which move. */
function positionAt(others, index) {
  const before = others[index - 1];
  const after = others[index];
  if (before && after) return (before.position + after.position) / 2;
  if (before) return before.position + 1;
  if (after) return after.position - 1;
  return 0;
}

// ---------------------------------------------------------------- Rendering

const board = document.getElementById("board");
const lists = [...board.querySelectorAll(".cards")];
const cards = new Map(); // id -> its <li>, reused so focus and animations survive a render
const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

function el(tag, properties = {}, ...children) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function colour(name) {
  let hash = 0;
  for (const character of name) hash = (hash * 31 + character.codePointAt(0)) >>> 0;
  return `c${hash % 8}`;
}

function avatar(username, title = username) {
  if (!username) return el("span", { className: "avatar nobody", title: "Nobody assigned" });
  const node = el("span", { className: `avatar ${colour(username)}`, title }, username.slice(0, 1));
  node.setAttribute("aria-label", title);
  return node;
}

function ago(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (Math.abs(seconds) < 45) return "just now";
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (Math.abs(seconds) >= size || unit === "minute") return relative.format(Math.round(seconds / size), unit);
  }
}

function time(iso) {
  const node = el("time", { dateTime: iso, title: new Date(iso).toLocaleString() }, ago(iso));
  node.dataset.relative = "";
  return node;
}

function fill(card, task) {
  const sprint = sprints.get(task.sprint);
  const who = el("span", { className: "who", title: "Last changed" }, `by ${task.updated_by ?? "someone"} · `, time(task.updated));
  const assignee = avatar(task.assignee, task.assignee ? `Assigned to ${task.assignee}` : undefined);
  const description = task.description ? [el("p", { className: "description" }, task.description)] : [];
  const chip = sprint ? [el("span", { className: "chip" }, sprint.name)] : [];
  card.replaceChildren(el("h3", {}, task.title), ...description, el("footer", {}, ...chip, who, assignee));
}

function cardFor(task) {
  let card = cards.get(task.id);
  if (!card) {
    card = el("li", { className: "card", tabIndex: 0, draggable: true });
    card.dataset.id = task.id;
    card.setAttribute("aria-describedby", "keyboard-hint");
    cards.set(task.id, card);
  }
  const key = `${task.etag} ${task.sprint && sprints.get(task.sprint)?.name}`;
  if (card.dataset.key !== key) {
    fill(card, task);
    card.dataset.key = key;
  }
  card.classList.toggle("saving", moving.has(task.id));
  return card;
}

function render() {
  const focused = document.activeElement;
  for (const list of lists) {
    const items = column(list.dataset.status).map(cardFor);
    const current = [...list.children].filter((child) => child.classList.contains("card"));
    if (items.length !== current.length || items.some((item, index) => item !== current[index])) {
      list.replaceChildren(...items);
    }
    list.closest(".column").querySelector(".count").textContent = items.length;
  }
  for (const [id, card] of cards) {
    if (!tasks.has(id)) {
      card.remove();
      cards.delete(id);
    }
  }
  if (focused?.classList?.contains("card") && focused.isConnected && document.activeElement !== focused) focused.focus();
  board.setAttribute("aria-busy", "false");
}

setInterval(() => {
  for (const node of document.querySelectorAll("time[data-relative]")) node.textContent = ago(node.dateTime);
}, 30_000);

// ---------------------------------------------------------------- Who changed what

const activity = document.getElementById("activity");
const seen = new Set(); // events already listed (a publish may, rarely, arrive twice)

function describe({ action, task, by }, before) {
  const title = el("em", {}, task.title);
  if (action === "created") return ["added ", title, ` to ${LABELS[task.status]}`];
  if (action === "deleted") return ["deleted ", title];
  if (action === "moved" && before?.status === task.status) return ["reordered ", title, ` in ${LABELS[task.status]}`];
  if (action === "moved") return ["moved ", title, ` to ${LABELS[task.status]}`];
  return ["edited ", title];
}

function log(event, before) {
  const key = `${event.action} ${event.task.id} ${event.task.version ?? ""}`;
  if (seen.has(key)) return;
  seen.add(key);
  activity.querySelector(".empty")?.remove();
  const who = el("strong", {}, event.by === config.user ? "You" : event.by);
  const item = el("li", {}, avatar(event.by), el("p", {}, who, " ", ...describe(event, before), time(new Date().toISOString())));
  activity.prepend(item);
  highlight(item, "fresh");
  activity.querySelectorAll("li:nth-child(n+40)").forEach((old) => old.remove());
}

const HIGHLIGHT_MS = 2500; // as long as the highlight animations in board.css

/** Highlight `node` for a moment. The class goes afterwards, or moving the node (a render) would replay it. */
function highlight(node, className) {
  node.classList.remove(className);
  void node.offsetWidth; // restart the animation
  node.classList.add(className);
  clearTimeout(node.highlightTimer);
  node.highlightTimer = setTimeout(() => node.classList.remove(className), HIGHLIGHT_MS);
}

function note(text) {
  activity.querySelector(".empty")?.remove();
  const item = el("li", { className: "note" }, el("p", {}, text, time(new Date().toISOString())));
  activity.prepend(item);
  highlight(item, "fresh");
}

/** Show on a card that someone else just changed it, and who. */
function flash(id, by) {
  const card = cards.get(id);
  if (!card) return;
  card.querySelector(".by-badge")?.remove();
  const badge = el("span", { className: "by-badge" }, by);
  card.append(badge);
  setTimeout(() => badge.remove(), HIGHLIGHT_MS);
  highlight(card, "changed");
}

// ---------------------------------------------------------------- Messages

const toasts = document.getElementById("toasts");
const announcer = document.getElementById("announcer");

function toast(message) {
  const node = el("p", { className: "toast" }, message);
  toasts.append(node);
  setTimeout(() => node.remove(), 5000);
}

function announce(message) {
  announcer.textContent = message; // read out by screen readers
}

function report(error) {
  console.error(error);
  toast(error instanceof ApiError ? error.message : "The server could not be reached; try again in a moment.");
}

// ---------------------------------------------------------------- Loading and syncing

async function loadSprints() {
  const { data } = await api(config.sprintsUrl);
  sprints.clear();
  for (const sprint of data) sprints.set(sprint.id, sprint);
  for (const select of [document.getElementById("sprint-filter"), editor.form.elements.sprint]) {
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...data.map((sprint) => el("option", { value: sprint.id }, sprint.name)));
    select.value = chosen;
  }
}

const fetching = new Set(); // for each fetch of the board on its way, the events that arrive meanwhile

/** Fetch the whole board, unless the list is still the one this page has (then: 304, no body). */
async function sync() {
  const arrived = [];
  fetching.add(arrived);
  let answer;
  try {
    answer = await api(config.tasksUrl, { ifNoneMatch: listEtag });
  } finally {
    fetching.delete(arrived);
  }
  const { response, data } = answer;
  board.dataset.fetched = Number(board.dataset.fetched ?? 0) + 1; // how often the board was fetched whole
  if (response.status === 304) return render();
  // The database is the truth, as of when it answered: newer versions this page got meanwhile
  // (its own changes' answers, events) stay, and the events that arrived meanwhile apply again.
  const before = new Map(tasks);
  tasks.clear();
  for (const task of data) tasks.set(task.id, task);
  const kept = [...before.values()].filter((task) => tasks.get(task.id)?.version < task.version);
  for (const task of kept) tasks.set(task.id, task);
  for (const event of arrived) apply(event);
  listEtag = kept.length || arrived.length ? null : response.headers.get("ETag");
  render();
  if (!loaded) return (loaded = true);
  // Show what changed while this page was not listening.
  const changed = [...tasks.values()].filter((task) => before.get(task.id)?.etag !== task.etag);
  const gone = [...before.keys()].filter((id) => !tasks.has(id));
  for (const task of changed) flash(task.id, task.updated_by);
  if (changed.length + gone.length) note(`Caught up: ${changed.length + gone.length} change(s) made while this page was reconnecting.`);
}

// ---------------------------------------------------------------- Changing the board

const queues = new Map(); // id -> the last request about that task: one at a time, in order

function queue(id, job) {
  const next = (queues.get(id) ?? Promise.resolve()).then(job).catch(report);
  queues.set(id, next);
  return next;
}

/** Move a task to `index` in column `status`: shown at once, then sent with the task's ETag. */
function move(task, status, index) {
  const others = column(status, task.id);
  const target = Math.max(0, Math.min(index, others.length));
  if (status === task.status && target === column(status).findIndex((other) => other.id === task.id)) return;
  const position = positionAt(others, target);
  const seq = ++moveSeq;
  moving.set(task.id, { status, position, seq });
  render();
  announce(`Moved ${task.title} to ${LABELS[status]}, ${target + 1} of ${others.length + 1}.`);
  return queue(task.id, async () => {
    const latest = tasks.get(task.id);
    if (moving.get(task.id)?.seq !== seq || !latest) return; // a later move replaces this one
    try {
      const { data } = await api(taskUrl(task.id), { method: "PATCH", body: { status, position }, ifMatch: latest.etag });
      remember(data);
    } catch (error) {
      moving.delete(task.id);
      if (error.status === 412) {
        remember(error.body.current);
        toast(`${error.body.current.updated_by} changed “${latest.title}” just before you: your move was not made.`);
      } else if (error.status === 404) {
        forget(task.id);
        toast(`“${latest.title}” has been deleted.`);
      } else throw error;
    } finally {
      if (moving.get(task.id)?.seq === seq) moving.delete(task.id);
      render();
    }
  });
}

for (const form of board.querySelectorAll("form.add")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = form.elements.title;
    const body = { title: input.value.trim(), status: form.dataset.status };
    if (!body.title) return;
    if (sprintFilter) body.sprint = Number(sprintFilter);
    try {
      const { data } = await api(config.tasksUrl, { method: "POST", body });
      remember(data);
      input.value = "";
      render();
    } catch (error) {
      report(error);
    }
  });
}

// Keyboard: a focused card moves with the arrow keys; Enter or Space opens it.
board.addEventListener("keydown", (event) => {
  const card = event.target;
  if (!card.classList?.contains("card") || event.altKey || event.ctrlKey || event.metaKey) return;
  const task = shown(tasks.get(Number(card.dataset.id)));
  const here = STATUSES.indexOf(task.status);
  const index = column(task.status).findIndex((other) => other.id === task.id);
  const moves = {
    ArrowLeft: () => here > 0 && move(task, STATUSES[here - 1], index),
    ArrowRight: () => here < STATUSES.length - 1 && move(task, STATUSES[here + 1], index),
    ArrowUp: () => index > 0 && move(task, task.status, index - 1),
    ArrowDown: () => move(task, task.status, index + 1),
    Enter: () => editor.open(task.id),
    " ": () => editor.open(task.id),
  };
  if (moves[event.key]) {
    event.preventDefault();
    moves[event.key]();
  }
});

board.addEventListener("click", (event) => {
  const card = event.target.closest(".card");
  if (card) editor.open(Number(card.dataset.id));
});

// Drag and drop, between columns and within one.
let dragged = null;
let marker = el("li", { className: "drop-marker" });

function dropIndex(list, y) {
  const others = [...list.querySelectorAll(".card")].filter((card) => Number(card.dataset.id) !== dragged);
  const index = others.findIndex((card) => y < card.getBoundingClientRect().top + card.offsetHeight / 2);
  return { others, index: index === -1 ? others.length : index };
}

function endDrag() {
  cards.get(dragged)?.classList.remove("dragging");
  dragged = null;
  marker.remove();
  for (const list of lists) list.classList.remove("drop-target");
}

board.addEventListener("dragstart", (event) => {
  const card = event.target.closest(".card");
  if (!card) return;
  dragged = Number(card.dataset.id);
  event.dataTransfer.setData("text/plain", card.dataset.id);
  event.dataTransfer.effectAllowed = "move";
  card.classList.add("dragging");
});
board.addEventListener("dragend", endDrag);

for (const section of board.querySelectorAll(".column")) {
  const list = section.querySelector(".cards");
  section.addEventListener("dragover", (event) => {
    if (dragged === null) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "move";
    const { others, index } = dropIndex(list, event.clientY);
    for (const other of lists) other.classList.toggle("drop-target", other === list);
    list.insertBefore(marker, others[index] ?? null);
  });
  section.addEventListener("drop", (event) => {
    if (dragged === null) return;
    event.preventDefault();
    const task = tasks.get(dragged);
    const { index } = dropIndex(list, event.clientY);
    endDrag();
    if (task) move(shown(task), list.dataset.status, index);
  });
}

document.getElementById("sprint-filter").addEventListener("change", (event) => {
  sprintFilter = event.target.value;
  render();
});

// ---------------------------------------------------------------- The editor, and conflicts

const editor = {
  dialog: document.getElementById("editor"),
  form: document.querySelector("#editor form"),
  notice: document.getElementById("editor-notice"),
  conflict: document.getElementById("conflict"),
  errors: document.getElementById("editor-errors"),
  base: null, // the task as it was when editing began: its ETag goes in If-Match

  open(id) {
    const task = tasks.get(id);
    if (!task) return;
    this.show(task);
    this.dialog.showModal();
    this.form.elements.title.focus();
  },

  show(task) {
    this.base = task;
    const { elements } = this.form;
    elements.title.value = task.title;
    elements.description.value = task.description;
    elements.status.value = task.status;
    elements.assignee.value = task.assignee ?? "";
    elements.sprint.value = task.sprint ?? "";
    this.notice.hidden = this.conflict.hidden = true;
    this.errors.textContent = "";
  },

  values() {
    const { elements } = this.form;
    return {
      title: elements.title.value.trim(),
      description: elements.description.value,
      status: elements.status.value,
      assignee: elements.assignee.value || null,
      sprint: elements.sprint.value ? Number(elements.sprint.value) : null,
    };
  },

  /** The fields the user changed since editing began: only these are sent. */
  mine() {
    const values = this.values();
    return Object.fromEntries(FIELDS.filter((name) => values[name] !== this.base[name]).map((name) => [name, values[name]]));
  },

  async save() {
    const changes = this.mine();
    if (!Object.keys(changes).length) return this.dialog.close();
    if ("status" in changes) {
      const others = column(changes.status, this.base.id);
      changes.position = positionAt(others, others.length); // the end of its new column
    }
    try {
      const { data } = await api(taskUrl(this.base.id), { method: "PATCH", body: changes, ifMatch: this.base.etag });
      remember(data);
      render();
      this.dialog.close();
    } catch (error) {
      this.failed(error);
    }
  },

  async remove() {
    try {
      await api(taskUrl(this.base.id), { method: "DELETE", ifMatch: this.base.etag });
      forget(this.base.id);
      render();
      this.dialog.close();
    } catch (error) {
      if (error.status === 412) {
        remember(error.body.current);
        render();
        this.show(error.body.current);
        this.notice.textContent = `${error.body.current.updated_by} changed this task after you opened it. Here it is now; delete it again if you still want to.`;
        this.notice.hidden = false;
      } else this.failed(error);
    }
  },

  failed(error) {
    if (error.status === 412) return this.clash(error.body.current);
    if (error.status === 404) {
      forget(this.base.id);
      render();
      this.dialog.close();
      return toast("This task has been deleted.");
    }
    if (error.status === 400 && error.body) {
      this.errors.textContent = Object.entries(error.body).map(([field, problems]) => `${field}: ${[problems].flat().join(" ")}`).join(" ");
      return;
    }
    this.errors.textContent = error.message;
  },

  /** 412: someone saved the task after this editor opened it. Show their version; the user decides. */
  clash(current) {
    remember(current);
    render();
    this.theirs = current;
    const mine = this.mine();
    const rows = FIELDS.filter((name) => current[name] !== this.base[name]).flatMap((name) => {
      const value = name === "status" ? LABELS[current.status] : name === "sprint" ? sprints.get(current.sprint)?.name : current[name];
      const both = name in mine;
      return [el("dt", {}, name[0].toUpperCase() + name.slice(1)), el("dd", { className: both ? "differs" : "" }, value || "—", both ? " (you changed it too)" : "")];
    });
    document.getElementById("conflict-title").textContent = `${current.updated_by} changed this task while you were editing`;
    document.getElementById("theirs").replaceChildren(...rows);
    this.notice.hidden = true;
    this.conflict.hidden = false;
    this.conflict.querySelector("[data-action=mine]").focus();
  },

  /** An event about the task being edited: say so now, not only when saving. */
  changedElsewhere(event) {
    if (!this.dialog.open || event.task.id !== this.base.id || event.by === config.user) return;
    this.notice.textContent =
      event.action === "deleted"
        ? `${event.by} deleted this task.`
        : `${event.by} just changed this task. If you save, you will see their version and choose.`;
    this.notice.hidden = false;
  },
};

editor.form.addEventListener("submit", (event) => {
  event.preventDefault();
  editor.save();
});
editor.dialog.addEventListener("click", (event) => {
  const action = event.target.dataset?.action;
  if (action === "cancel") editor.dialog.close();
  if (action === "delete") editor.remove();
  if (action === "theirs") editor.show(editor.theirs); // discard mine
  if (action === "mine") {
    // My changes on top of their version: only the fields I changed are sent, the rest stays theirs.
    const changes = editor.mine();
    editor.show(editor.theirs);
    for (const [name, value] of Object.entries(changes)) editor.form.elements[name].value = value ?? "";
    editor.save();
  }
});
editor.dialog.addEventListener("close", () => cards.get(editor.base?.id)?.focus());

for (const username of config.users) editor.form.elements.assignee.append(el("option", { value: username }, username));

// ---------------------------------------------------------------- Real time

const connection = document.getElementById("connection");
let socketState = ["connecting", "Connecting…"]; // as the socket last reported it
let undelivered = false; // this page's last change was saved, but its event never reached the broker

/** The pill: the socket's state, except that it never says "Live" while this page's last change reached nobody. */
function showConnection() {
  const [state, label] = undelivered && socketState[0] === "live" ? ["offline", "Not live: your last change was not sent to others"] : socketState;
  connection.dataset.state = state;
  connection.querySelector(".label").textContent = label;
}

function connectionState(state, label) {
  socketState = [state, label];
  showConnection();
}

/** What a change's answer says of its event: "sent", "dropped", or null when nothing was announced. */
function delivered(outcome) {
  if (!outcome) return;
  undelivered = outcome === "dropped";
  if (undelivered) note("Saved, but other open boards were not told: the real-time service could not be reached. They show your change once they load the board again.");
  showConnection();
}

/** Apply an event to the board's state; true if the board changed. */
function apply(event) {
  return event.action === "deleted" ? forget(event.task.id) : remember(event.task);
}

function receive(event) {
  const before = tasks.get(event.task.id);
  for (const events of fetching) events.push(event);
  const changed = apply(event);
  log(event, before);
  editor.changedElsewhere(event);
  if (!changed) return; // this page's own change, already shown, or an older state
  render();
  if (event.by !== config.user) flash(event.task.id, event.by);
}

const socket = new window.RealtimeSocket({
  channel: config.channel,
  async getToken() {
    return (await api(config.tokenUrl)).data; // {token, url}
  },
});
socket.addEventListener("open", () => connectionState("connecting", "Connecting…"));
socket.addEventListener("reconnecting", (event) => {
  const wait = `Reconnecting in ${Math.max(1, Math.round(event.detail.delay / 1000))} s…`;
  connectionState("reconnecting", event.detail.unreachable ? window.RealtimeSocket.notAnswering(event.detail) : wait);
});
socket.addEventListener("message", (event) => receive(event.detail.data));
socket.addEventListener("live", () => connectionState("live", "Live")); // subscribed, after every connect
// The first connect, or a resume the server's history no longer reaches: fetch the board again.
socket.addEventListener("sync", () => sync().catch(report));

document.querySelector(".me .avatar").replaceWith(avatar(config.user, `Signed in as ${config.user}`));
loadSprints()
  .then(sync)
  .catch(report)
  .finally(() => socket.connect());
