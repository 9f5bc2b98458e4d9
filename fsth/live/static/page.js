// fsth live's page without JupyterLab: widget.js's render() with a websocket standing in for the
// widget's model (fsth/live/server.py). Each message is a JSON text message, then as many binary
// messages as its "buffers" says; the kernel's state comes as {"type": "state", "values": {...}}.

import widget from "./widget.js";

class SocketModel {
  constructor(socket) {
    this.socket = socket;
    this.values = {};
    this.changed = {};
    this.handlers = {};
    this.pending = null; // a message waiting for its buffers
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => this.receive(event.data));
  }
  get(name) { return this.values[name]; }
  set(name, value) { this.values[name] = value; this.changed[name] = value; }
  save_changes() {
    this.send({ type: "set", values: this.changed });
    this.changed = {};
  }
  on(event, handler) { (this.handlers[event] = this.handlers[event] || []).push(handler); }
  emit(event, ...args) { for (const handler of this.handlers[event] || []) handler(...args); }
  send(content, callbacks, buffers = []) {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(JSON.stringify({ ...content, buffers: buffers.length }));
    for (const buffer of buffers) this.socket.send(buffer);
  }
  receive(data) {
    if (typeof data !== "string") {
      if (!this.pending) return;
      this.pending.buffers.push(new DataView(data));
      if (this.pending.buffers.length === this.pending.count) {
        const { content, buffers } = this.pending;
        this.pending = null;
        this.emit("msg:custom", content, buffers);
      }
      return;
    }
    const content = JSON.parse(data);
    const count = content.buffers || 0;
    delete content.buffers;
    if (content.type === "state") {
      Object.assign(this.values, content.values);
      for (const name of Object.keys(content.values)) this.emit(`change:${name}`);
      this.emit("state");
    } else if (count > 0) {
      this.pending = { content, buffers: [], count };
    } else {
      this.emit("msg:custom", content, []);
    }
  }
}

const el = document.getElementById("live");
const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/socket`);
const model = new SocketModel(socket);
let shown = false;
model.on("state", () => {
  if (!shown) { shown = true; el.replaceChildren(); widget.render({ model, el }); }
});
socket.addEventListener("close", () => {
  const note = document.createElement("p");
  note.className = "fsth-live-error";
  note.textContent = "the connection to fsth live closed: is it still running?";
  el.appendChild(note);
});
