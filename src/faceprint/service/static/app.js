// faceprint web page: plain JavaScript over the /v1 REST API (see docs/service.md).
// Every server- or user-provided string is put into the page with textContent, never innerHTML.
"use strict";

(function () {
  const KEY_STORAGE = "faceprint.apiKey";
  const COLLECTION_STORAGE = "faceprint.collection";
  const CANVAS_MAX_WIDTH = 720;
  const CANVAS_MAX_HEIGHT = 640;
  const COLOURS = { known: "#16a34a", unknown: "#ea580c", rejected: "#6b7280" };

  const $ = (id) => document.getElementById(id);
  const el = {
    version: $("version"),
    keyForm: $("key-form"),
    key: $("api-key"),
    status: $("status"),
    select: $("collection-select"),
    refresh: $("refresh-collections"),
    createForm: $("create-form"),
    newCollection: $("new-collection"),
    deleteCollection: $("delete-collection"),
    enrollForm: $("enroll-form"),
    person: $("person-name"),
    enrollFiles: $("enroll-files"),
    enrollButton: $("enroll-button"),
    enrollResult: $("enroll-result"),
    persons: $("persons-list"),
    searchForm: $("search-form"),
    searchFile: $("search-file"),
    searchButton: $("search-button"),
    canvas: $("search-canvas"),
    searchResult: $("search-result"),
  };

  // ---------------------------------------------------------------- status area

  function setStatus(text, kind) {
    el.status.textContent = text;
    el.status.className = "status status-" + (kind || "info");
  }

  function showError(err) {
    if (err instanceof ApiError) {
      setStatus(err.code + ": " + err.message, "error");
    } else {
      setStatus("error: " + (err && err.message ? err.message : String(err)), "error");
    }
  }

  // ---------------------------------------------------------------- API client

  class ApiError extends Error {
    constructor(status, code, message, requestId) {
      super(message);
      this.status = status;
      this.code = code;
      this.requestId = requestId || null;
    }
  }

  function storedKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE) || "";
    } catch (_e) {
      return "";
    }
  }

  function rememberKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch (_e) {
      /* storage unavailable: the key still lives in the field */
    }
  }

  function currentKey() {
    return el.key.value.trim();
  }

  async function parseError(res) {
    let code = "http_" + res.status;
    let message = res.statusText || "request failed";
    let requestId = res.headers.get("x-request-id");
    try {
      const body = await res.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      } else if (body && body.detail) {
        message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      }
      if (body && body.request_id) requestId = body.request_id;
    } catch (_e) {
      /* not JSON: keep the HTTP status line */
    }
    return new ApiError(res.status, code, message, requestId);
  }

  // Ask for a (new) key after a 401; true when the user gave one.
  function promptForKey(message) {
    const given = window.prompt(message + "\nEnter an API key (fp_…):", "");
    if (given && given.trim()) {
      el.key.value = given.trim();
      rememberKey(el.key.value);
      return true;
    }
    el.key.focus();
    return false;
  }

  // body: {json: object} or {form: FormData} or undefined.
  async function api(method, path, body, retried) {
    const headers = {};
    const key = currentKey();
    if (key) headers["Authorization"] = "Bearer " + key;
    const init = { method: method, headers: headers };
    if (body && body.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body.json);
    } else if (body && body.form) {
      init.body = body.form; // the browser sets the multipart boundary
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, "network_error", "could not reach the service (" + e.message + ")");
    }
    if (res.ok) {
      if (res.status === 204) return null;
      return res.json();
    }
    const err = await parseError(res);
    if (res.status === 401) {
      setStatus(err.code + ": " + err.message, "error");
      if (!retried && promptForKey(err.code + ": " + err.message)) {
        return api(method, path, body, true);
      }
    }
    throw err;
  }

  const enc = encodeURIComponent;

  // Run an action with its button disabled and any error shown in the status area.
  async function guarded(button, busyText, action) {
    if (button) button.disabled = true;
    if (busyText) setStatus(busyText, "busy");
    try {
      return await action();
    } catch (err) {
      showError(err);
      return undefined;
    } finally {
      if (button) button.disabled = false;
      el.deleteCollection.disabled = !selectedCollection();
    }
  }

  function selectedCollection() {
    return el.select.value || "";
  }

  function requireCollection() {
    const cid = selectedCollection();
    if (!cid) throw new Error("choose or create a collection first");
    return cid;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function fmt(x, digits) {
    return typeof x === "number" && isFinite(x) ? x.toFixed(digits === undefined ? 2 : digits) : "–";
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  // ---------------------------------------------------------------- collections

  async function loadCollections(preferred) {
    const data = await api("GET", "/v1/collections");
    const collections = (data && data.collections) || [];
    let wanted = preferred || selectedCollection();
    if (!wanted) {
      try {
        wanted = sessionStorage.getItem(COLLECTION_STORAGE) || "";
      } catch (_e) {
        wanted = "";
      }
    }
    clear(el.select);
    if (collections.length === 0) {
      const opt = document.createElement("option");
      opt.value = "";
      opt.textContent = "(no collections yet)";
      el.select.appendChild(opt);
    }
    for (const c of collections) {
      const opt = document.createElement("option");
      opt.value = c.collection_id;
      opt.textContent =
        c.collection_id + " — " + plural(c.persons, "person") + ", " + plural(c.faces, "face");
      el.select.appendChild(opt);
    }
    if (collections.some((c) => c.collection_id === wanted)) el.select.value = wanted;
    onCollectionChanged();
    await loadPersons();
    return collections;
  }

  function onCollectionChanged() {
    const cid = selectedCollection();
    el.deleteCollection.disabled = !cid;
    try {
      if (cid) sessionStorage.setItem(COLLECTION_STORAGE, cid);
    } catch (_e) {
      /* ignore */
    }
  }

  async function createCollection() {
    const name = el.newCollection.value.trim();
    if (!name) throw new Error("type a name for the new collection");
    const created = await api("POST", "/v1/collections", { json: { collection_id: name } });
    el.newCollection.value = "";
    await loadCollections(created.collection_id);
    setStatus("Created collection " + created.collection_id, "ok");
  }

  async function deleteCollection() {
    const cid = requireCollection();
    if (!window.confirm('Delete collection "' + cid + '" and every face enrolled in it?')) return;
    const res = await api("DELETE", "/v1/collections/" + enc(cid));
    await loadCollections();
    setStatus(
      "Deleted collection " + res.collection_id + " (" + plural(res.faces_removed, "face") + " removed)",
      "ok"
    );
  }

  // ---------------------------------------------------------------- persons

  async function loadPersons() {
    const cid = selectedCollection();
    clear(el.persons);
    if (!cid) {
      appendEmpty("no collection selected");
      return;
    }
    const data = await api("GET", "/v1/collections/" + enc(cid) + "/persons");
    if (cid !== selectedCollection()) return; // the selection changed while loading
    clear(el.persons);
    const persons = (data && data.persons) || [];
    if (persons.length === 0) appendEmpty("nobody enrolled yet");
    for (const p of persons) {
      const li = document.createElement("li");
      li.dataset.personId = p.person_id;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = p.person_id;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = plural(p.faces, "face");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = "Remove";
      remove.title = "Remove " + p.person_id + " and their faces";
      remove.addEventListener("click", () =>
        guarded(remove, null, () => removePerson(cid, p.person_id))
      );
      li.append(name, count, remove);
      el.persons.appendChild(li);
    }
  }

  function appendEmpty(text) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = text;
    el.persons.appendChild(li);
  }

  async function removePerson(cid, personId) {
    if (!window.confirm('Remove "' + personId + '" from ' + cid + "?")) return;
    const res = await api(
      "DELETE",
      "/v1/collections/" + enc(cid) + "/persons/" + enc(personId)
    );
    await loadCollections(cid);
    setStatus(
      "Removed " + res.person_id + " (" + plural(res.faces_removed, "face") + " removed)",
      "ok"
    );
  }

  // ---------------------------------------------------------------- enroll

  async function enroll() {
    const cid = requireCollection();
    const person = el.person.value.trim();
    if (!person) throw new Error("type the person's id");
    const files = Array.from(el.enrollFiles.files || []);
    if (files.length === 0) throw new Error("choose one or more images to enroll");
    const form = new FormData();
    for (const f of files) form.append("images", f, f.name);
    clear(el.enrollResult);
    const res = await api(
      "POST",
      "/v1/collections/" + enc(cid) + "/persons/" + enc(person) + "/faces",
      { form: form }
    );
    const rows = [];
    for (const a of res.accepted || []) {
      const extra = a.faces_in_image > 1 ? ", largest of " + a.faces_in_image + " faces" : "";
      rows.push({
        index: a.index,
        cls: "ok",
        text:
          "✓ " + (a.filename || "image " + a.index) + ": accepted (face " + a.face_id +
          ", score " + fmt(a.score) + extra + ")",
      });
    }
    for (const r of res.rejected || []) {
      rows.push({
        index: r.index,
        cls: "bad",
        text: "✗ " + (r.filename || "image " + r.index) + ": rejected — " + r.code + ": " + r.message,
      });
    }
    rows.sort((a, b) => a.index - b.index);
    for (const row of rows) {
      const li = document.createElement("li");
      li.className = row.cls;
      li.textContent = row.text;
      el.enrollResult.appendChild(li);
    }
    const nOk = (res.accepted || []).length;
    const nBad = (res.rejected || []).length;
    el.enrollFiles.value = "";
    await loadCollections(cid);
    setStatus(
      "Enrolled " + plural(nOk, "face") + " for " + res.person_id +
        (nBad ? " (" + nBad + " rejected)" : ""),
      nOk ? "ok" : "error"
    );
  }

  // ---------------------------------------------------------------- search

  async function loadBitmap(file) {
    if (window.createImageBitmap) {
      try {
        return await createImageBitmap(file, { imageOrientation: "from-image" });
      } catch (_e) {
        /* fall back to an <img> element */
      }
    }
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      return img;
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  function drawSearch(image, faces) {
    const w = image.width;
    const h = image.height;
    const scale = Math.min(1, CANVAS_MAX_WIDTH / w, CANVAS_MAX_HEIGHT / h);
    const cw = Math.max(1, Math.round(w * scale));
    const ch = Math.max(1, Math.round(h * scale));
    el.canvas.width = cw;
    el.canvas.height = ch;
    const ctx = el.canvas.getContext("2d");
    ctx.clearRect(0, 0, cw, ch);
    ctx.drawImage(image, 0, 0, cw, ch);
    const fontPx = 14;
    ctx.font = "600 " + fontPx + "px system-ui, sans-serif";
    ctx.textBaseline = "top";
    faces.forEach((face) => {
      const b = face.box;
      const x = b.x1 * scale;
      const y = b.y1 * scale;
      const bw = (b.x2 - b.x1) * scale;
      const bh = (b.y2 - b.y1) * scale;
      const colour = COLOURS[face.decision] || COLOURS.rejected;
      ctx.lineWidth = 3;
      ctx.strokeStyle = colour;
      ctx.strokeRect(x, y, bw, bh);
      const label = faceLabel(face);
      const pad = 4;
      const tw = ctx.measureText(label).width + 2 * pad;
      const th = fontPx + 2 * pad;
      let lx = Math.min(Math.max(0, x - 1.5), Math.max(0, cw - tw));
      let ly = y - th - 1.5; // above the box …
      if (ly < 0) ly = Math.min(y + bh + 1.5, ch - th); // … or below it when there is no room
      ctx.fillStyle = colour;
      ctx.fillRect(lx, ly, tw, th);
      ctx.fillStyle = "#ffffff";
      ctx.fillText(label, lx + pad, ly + pad);
    });
  }

  function faceLabel(face) {
    if (face.decision === "known") return face.person_id + " " + fmt(face.similarity);
    if (face.decision === "unknown") return "unknown " + fmt(face.similarity);
    return "rejected" + (face.reason ? " (" + face.reason + ")" : "");
  }

  function faceLine(face, i, threshold) {
    const who =
      face.decision === "known"
        ? face.person_id
        : face.decision === "unknown"
          ? "unknown"
          : "rejected" + (face.reason ? " (" + face.reason + ")" : "");
    let text = "Face " + (i + 1) + ": " + who;
    if (face.similarity !== null && face.similarity !== undefined) {
      text += " — similarity " + fmt(face.similarity) + ", threshold " + fmt(threshold);
    } else {
      text += " — threshold " + fmt(threshold);
    }
    if (face.decision === "unknown" && face.matches && face.matches.length) {
      text += " (closest: " + face.matches[0].person_id + ")";
    }
    return text;
  }

  async function search() {
    const cid = requireCollection();
    const file = el.searchFile.files && el.searchFile.files[0];
    if (!file) throw new Error("choose an image to search for");
    clear(el.searchResult);
    const form = new FormData();
    form.append("image", file, file.name);
    const [res, image] = await Promise.all([
      api("POST", "/v1/collections/" + enc(cid) + "/search", { form: form }),
      loadBitmap(file).catch(() => null),
    ]);
    const faces = res.faces || [];
    if (image) drawSearch(image, faces);
    if (faces.length === 0) {
      const li = document.createElement("li");
      li.textContent = "No faces found.";
      el.searchResult.appendChild(li);
    }
    faces.forEach((face, i) => {
      const li = document.createElement("li");
      li.className = face.decision === "known" ? "ok" : face.decision;
      li.dataset.decision = face.decision;
      li.textContent = faceLine(face, i, res.threshold);
      el.searchResult.appendChild(li);
    });
    const known = faces.filter((f) => f.decision === "known").length;
    setStatus(
      "Searched " + res.collection_id + " (" + plural(res.gallery_size, "face") + " in gallery): " +
        plural(faces.length, "face") + " found, " + known + " known",
      "ok"
    );
  }

  // ---------------------------------------------------------------- wiring

  el.keyForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    rememberKey(currentKey());
    if (!currentKey()) {
      setStatus("Enter an API key to start.", "info");
      return;
    }
    guarded(el.keyForm.querySelector("button"), "Loading collections…", async () => {
      const cs = await loadCollections();
      setStatus("Key accepted — " + plural(cs.length, "collection") + " visible.", "ok");
    });
  });
  el.key.addEventListener("change", () => rememberKey(currentKey()));

  el.select.addEventListener("change", () => {
    onCollectionChanged();
    guarded(null, null, async () => {
      await loadPersons();
      setStatus("Collection " + selectedCollection() + " selected.", "info");
    });
  });
  el.refresh.addEventListener("click", () =>
    guarded(el.refresh, "Loading collections…", async () => {
      await loadCollections();
      setStatus("Collections reloaded.", "ok");
    })
  );
  el.createForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guarded($("create-collection"), "Creating collection…", createCollection);
  });
  el.deleteCollection.addEventListener("click", () =>
    guarded(el.deleteCollection, null, deleteCollection)
  );
  el.enrollForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guarded(el.enrollButton, "Enrolling…", enroll);
  });
  el.searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guarded(el.searchButton, "Searching…", search);
  });

  async function start() {
    fetch("/v1/health")
      .then((r) => (r.ok ? r.json() : null))
      .then((h) => {
        if (h && h.version) el.version.textContent = "v" + h.version;
      })
      .catch(() => {});
    el.key.value = storedKey();
    onCollectionChanged();
    appendEmpty("no collection selected");
    if (!currentKey()) {
      setStatus("Enter an API key to start.", "info");
      el.key.focus();
      return;
    }
    await guarded(null, "Loading collections…", async () => {
      const cs = await loadCollections();
      setStatus("Ready — " + plural(cs.length, "collection") + " visible.", "ok");
    });
  }

  start();
})();
