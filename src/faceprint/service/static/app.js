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

  // ---------------------------------------------------------------- tabs

  const TAB_STORAGE = "faceprint.tab";
  const tabs = {
    gallery: { tab: $("tab-gallery"), panel: $("panel-gallery") },
    people: { tab: $("tab-people"), panel: $("panel-people") },
  };
  const TAB_ORDER = ["gallery", "people"];
  let activeTab = "gallery";

  function showTab(name, focus) {
    if (!tabs[name]) name = "gallery";
    activeTab = name;
    for (const key of TAB_ORDER) {
      const on = key === name;
      tabs[key].tab.setAttribute("aria-selected", on ? "true" : "false");
      tabs[key].tab.tabIndex = on ? 0 : -1;
      tabs[key].panel.hidden = !on;
    }
    if (focus) tabs[name].tab.focus();
    try {
      sessionStorage.setItem(TAB_STORAGE, name);
    } catch (_e) {
      /* ignore */
    }
    if (name === "people") {
      if (!el.peopleCollection.dataset.touched) {
        el.peopleCollection.value = selectedCollection() || "default";
      }
      if (!people.loaded && currentKey()) {
        guarded(el.peopleReload, "Loading clusters…", async () => {
          const data = await loadPeople();
          setStatus(peopleSummary(data), "ok");
        });
      }
    }
  }

  for (const key of TAB_ORDER) {
    tabs[key].tab.addEventListener("click", () => showTab(key, false));
    tabs[key].tab.addEventListener("keydown", (ev) => {
      const i = TAB_ORDER.indexOf(key);
      let next = null;
      if (ev.key === "ArrowRight") next = TAB_ORDER[(i + 1) % TAB_ORDER.length];
      else if (ev.key === "ArrowLeft") next = TAB_ORDER[(i - 1 + TAB_ORDER.length) % TAB_ORDER.length];
      else if (ev.key === "Home") next = TAB_ORDER[0];
      else if (ev.key === "End") next = TAB_ORDER[TAB_ORDER.length - 1];
      if (next) {
        ev.preventDefault();
        showTab(next, true);
      }
    });
  }

  // ---------------------------------------------------------------- people

  const THUMB_CONCURRENCY = 4;
  const people = {
    loaded: false,
    clusters: [],
    selected: new Set(), // cluster ids picked for a merge
    expanded: new Set(), // cluster ids whose faces are shown
    faces: new Map(), // cluster id -> Set of face ids picked for a split or removal
    thumbs: new Map(), // face id -> Promise of an object URL
  };
  Object.assign(el, {
    peopleReload: $("people-reload"),
    peopleSingletons: $("people-singletons"),
    peopleMerge: $("people-merge"),
    peopleCollection: $("people-collection"),
    peopleEnroll: $("people-enroll"),
    peopleMessage: $("people-message"),
    peopleSummary: $("people-summary"),
    peopleEnrollResult: $("people-enroll-result"),
    peopleClusters: $("people-clusters"),
  });

  // Thumbnails need the key, so they are fetched (a few at a time, retrying when rate
  // limited) and shown as object URLs; each face is fetched once per key.
  const thumbQueue = [];
  let thumbsActive = 0;

  function pumpThumbs() {
    while (thumbsActive < THUMB_CONCURRENCY && thumbQueue.length) {
      const job = thumbQueue.shift();
      thumbsActive += 1;
      job().finally(() => {
        thumbsActive -= 1;
        pumpThumbs();
      });
    }
  }

  function queued(fn) {
    return new Promise((resolve, reject) => {
      thumbQueue.push(() => fn().then(resolve, reject));
      pumpThumbs();
    });
  }

  async function fetchThumb(faceId, attempt) {
    const headers = {};
    const key = currentKey();
    if (key) headers["Authorization"] = "Bearer " + key;
    const res = await fetch("/v1/people/faces/" + enc(faceId) + "/thumbnail", { headers: headers });
    if (res.status === 429 && attempt < 4) {
      const wait = Math.min(10, Number(res.headers.get("retry-after")) || 1);
      await new Promise((r) => setTimeout(r, wait * 1000));
      return fetchThumb(faceId, attempt + 1);
    }
    if (!res.ok) throw await parseError(res);
    return URL.createObjectURL(await res.blob());
  }

  function thumbUrl(faceId) {
    let url = people.thumbs.get(faceId);
    if (!url) {
      url = queued(() => fetchThumb(faceId, 0));
      url.catch(() => people.thumbs.delete(faceId)); // try again on the next render
      people.thumbs.set(faceId, url);
    }
    return url;
  }

  function forgetThumbs() {
    for (const url of people.thumbs.values()) {
      url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
    }
    people.thumbs.clear();
  }

  function loadThumb(img) {
    const faceId = Number(img.dataset.faceId);
    thumbUrl(faceId)
      .then((url) => {
        img.src = url;
        img.classList.remove("thumb-missing");
      })
      .catch(() => {
        img.classList.add("thumb-missing");
      });
  }

  const thumbObserver =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              if (entry.isIntersecting) {
                thumbObserver.unobserve(entry.target);
                loadThumb(entry.target);
              }
            }
          },
          { rootMargin: "200px" }
        )
      : null;

  function thumb(faceId, alt, cls) {
    const img = document.createElement("img");
    img.className = "thumb " + (cls || "");
    img.width = 112;
    img.height = 112;
    img.alt = alt;
    img.dataset.faceId = String(faceId);
    if (thumbObserver) thumbObserver.observe(img);
    else loadThumb(img);
    return img;
  }

  function peopleSummary(data) {
    const hidden = el.peopleSingletons.checked ? 0 : data.singletons;
    return (
      plural(data.total, "cluster") + " of " + plural(data.faces, "face") + " in " +
      plural(data.images, "photo") + ", " + data.named + " named" +
      (hidden ? " (" + plural(hidden, "single face") + " hidden)" : "")
    );
  }

  function peopleMessage(text) {
    el.peopleMessage.textContent = text || "";
    el.peopleMessage.hidden = !text;
  }

  async function loadPeople() {
    const query = el.peopleSingletons.checked ? "?singletons=true" : "";
    let data;
    try {
      data = await api("GET", "/v1/people/clusters" + query);
    } catch (err) {
      people.loaded = false;
      people.clusters = [];
      clear(el.peopleClusters);
      el.peopleSummary.textContent = "";
      peopleMessage(err.message || String(err));
      updatePeopleButtons();
      throw err;
    }
    people.loaded = true;
    people.clusters = data.clusters || [];
    const ids = new Set(people.clusters.map((c) => c.id));
    for (const set of [people.selected, people.expanded]) {
      for (const id of Array.from(set)) if (!ids.has(id)) set.delete(id);
    }
    people.faces.clear();
    el.peopleSummary.textContent = peopleSummary(data);
    peopleMessage(
      people.clusters.length ? "" : "No clusters yet: cluster some photos with `faceprint cluster`."
    );
    renderClusters();
    return data;
  }

  function renderClusters() {
    clear(el.peopleClusters);
    for (const c of people.clusters) el.peopleClusters.appendChild(clusterCard(c));
    updatePeopleButtons();
  }

  function updatePeopleButtons() {
    const n = people.selected.size;
    el.peopleMerge.disabled = n < 2;
    el.peopleMerge.textContent = n ? "Merge selected (" + n + ")" : "Merge selected";
  }

  function clusterLabel(c) {
    return c.name ? c.name + " (#" + c.id + ")" : "cluster #" + c.id;
  }

  function clusterCard(c) {
    const expanded = people.expanded.has(c.id);
    const li = document.createElement("li");
    li.className = "cluster-card" + (expanded ? " expanded" : "") + (c.name ? " named" : "");
    li.dataset.clusterId = String(c.id);
    if (people.selected.has(c.id)) li.classList.add("selected");

    const top = document.createElement("div");
    top.className = "cluster-top";
    const facesId = "cluster-" + c.id + "-faces";
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "cluster-toggle";
    toggle.setAttribute("aria-expanded", expanded ? "true" : "false");
    toggle.setAttribute("aria-controls", facesId);
    const rep = c.members.find((m) => m.face_id === c.representative) || c.members[0];
    toggle.appendChild(
      thumb(c.representative, "Representative face of " + clusterLabel(c) + (rep ? ", " + rep.photo : ""))
    );
    const toggleText = document.createElement("span");
    toggleText.className = "toggle-text";
    toggleText.textContent = expanded ? "Hide faces" : "Show " + plural(c.size, "face");
    toggle.appendChild(toggleText);

    const info = document.createElement("div");
    info.className = "cluster-info";
    const name = document.createElement("div");
    name.className = "cluster-name" + (c.name ? "" : " unnamed");
    name.textContent = c.name || "unnamed";
    const meta = document.createElement("div");
    meta.className = "muted";
    const low = c.members.filter((m) => m.reasons.length).length;
    meta.textContent =
      "#" + c.id + " · " + plural(c.size, "face") + (c.reviewed ? " · reviewed" : "") +
      (low ? " · " + low + " low-quality" : "");
    const pick = document.createElement("label");
    pick.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "cluster-select";
    box.checked = people.selected.has(c.id);
    box.setAttribute("aria-label", "Select " + clusterLabel(c) + " for merging");
    box.addEventListener("change", () => {
      if (box.checked) people.selected.add(c.id);
      else people.selected.delete(c.id);
      li.classList.toggle("selected", box.checked);
      updatePeopleButtons();
    });
    pick.append(box, document.createTextNode(" Select"));
    info.append(name, meta, pick);
    top.append(toggle, info);

    const form = document.createElement("form");
    form.className = "row cluster-name-form";
    const inputId = "cluster-" + c.id + "-name";
    const label = document.createElement("label");
    label.className = "sr-only";
    label.htmlFor = inputId;
    label.textContent = "Name for " + clusterLabel(c);
    const input = document.createElement("input");
    input.type = "text";
    input.id = inputId;
    input.className = "cluster-name-input";
    input.placeholder = "person's name";
    input.spellcheck = false;
    input.maxLength = 128;
    input.value = c.name || "";
    const nameButton = document.createElement("button");
    nameButton.type = "submit";
    nameButton.className = "cluster-name-button";
    nameButton.textContent = "Name";
    form.append(label, input, nameButton);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      guarded(nameButton, "Naming " + clusterLabel(c) + "…", () => nameCluster(c, input.value));
    });
    if (c.name) {
      const unname = document.createElement("button");
      unname.type = "button";
      unname.className = "cluster-unname";
      unname.textContent = "Unname";
      unname.title = "Forget the name of " + clusterLabel(c);
      unname.addEventListener("click", () =>
        guarded(unname, "Unnaming " + clusterLabel(c) + "…", () => unnameCluster(c))
      );
      form.appendChild(unname);
    }

    const facesBox = document.createElement("div");
    facesBox.id = facesId;
    facesBox.className = "cluster-faces";
    facesBox.hidden = !expanded;
    const list = document.createElement("ul");
    list.className = "faces";
    list.setAttribute("aria-label", "Faces of " + clusterLabel(c));
    const picked = new Set();
    people.faces.set(c.id, picked);
    const split = document.createElement("button");
    split.type = "button";
    split.className = "face-split";
    split.textContent = "Split off selected";
    split.disabled = true;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "face-remove danger";
    remove.textContent = "Remove selected";
    remove.disabled = true;
    for (const m of c.members) {
      const item = document.createElement("li");
      item.className = "face" + (m.reasons.length ? " low" : "");
      item.dataset.faceId = String(m.face_id);
      item.dataset.photo = m.photo;
      const faceLabel = document.createElement("label");
      const check = document.createElement("input");
      check.type = "checkbox";
      check.className = "face-select";
      check.setAttribute("aria-label", "Select face " + m.face_id + " (" + m.photo + ")");
      check.addEventListener("change", () => {
        if (check.checked) picked.add(m.face_id);
        else picked.delete(m.face_id);
        item.classList.toggle("selected", check.checked);
        split.disabled = remove.disabled = picked.size === 0;
      });
      const caption = document.createElement("span");
      caption.className = "face-caption";
      caption.textContent = m.photo.split("/").pop();
      caption.title = m.photo + " (" + m.how + ")";
      const score = document.createElement("span");
      score.className = "face-caption";
      score.textContent =
        "similarity " + fmt(m.similarity) + (m.reasons.length ? " · " + m.reasons.join(", ") : "");
      faceLabel.append(
        check,
        thumb(m.face_id, "Face " + m.face_id + " from " + m.photo, "small"),
        caption,
        score
      );
      item.appendChild(faceLabel);
      list.appendChild(item);
    }
    split.addEventListener("click", () =>
      guarded(split, "Splitting " + clusterLabel(c) + "…", () => splitFaces(c, Array.from(picked)))
    );
    remove.addEventListener("click", () =>
      guarded(remove, "Removing faces from " + clusterLabel(c) + "…", () =>
        removeFaces(c, Array.from(picked))
      )
    );
    const actions = document.createElement("div");
    actions.className = "row face-actions";
    actions.append(split, remove);
    facesBox.append(list, actions);

    toggle.addEventListener("click", () => {
      const open = !people.expanded.has(c.id);
      if (open) people.expanded.add(c.id);
      else people.expanded.delete(c.id);
      facesBox.hidden = !open;
      li.classList.toggle("expanded", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      toggleText.textContent = open ? "Hide faces" : "Show " + plural(c.size, "face");
    });

    li.append(top, form, facesBox);
    return li;
  }

  async function nameCluster(c, value) {
    const person = value.trim();
    if (!person) throw new Error("type a name for " + clusterLabel(c));
    if (/[\u0000-\u001f/]/.test(person)) throw new Error("a person's name may not contain '/'");
    const res = await api("POST", "/v1/people/clusters/" + enc(c.id) + "/name", {
      json: { person: person },
    });
    await loadPeople();
    const merged = res.merged && res.merged.length;
    setStatus(
      "Cluster #" + c.id + " is " + res.cluster.name +
        (merged ? " — merged into #" + res.cluster.id + ", which already had that name" : "") +
        " (" + plural(res.cluster.size, "face") + ")",
      "ok"
    );
  }

  async function unnameCluster(c) {
    await api("POST", "/v1/people/clusters/" + enc(c.id) + "/unname");
    await loadPeople();
    setStatus("Cluster #" + c.id + " is unnamed again", "ok");
  }

  async function mergeClusters() {
    const ids = people.clusters.map((c) => c.id).filter((id) => people.selected.has(id));
    if (ids.length < 2) throw new Error("select two or more clusters to merge");
    const res = await api("POST", "/v1/people/clusters/merge", { json: { clusters: ids } });
    people.selected.clear();
    await loadPeople();
    setStatus(
      "Merged " + ids.map((id) => "#" + id).join(", ") + " into " + clusterLabel(res.cluster) +
        " (" + plural(res.cluster.size, "face") + ")",
      "ok"
    );
  }

  async function splitFaces(c, faces) {
    if (!faces.length) throw new Error("select the faces to split off");
    const res = await api("POST", "/v1/people/clusters/" + enc(c.id) + "/split", {
      json: { faces: faces },
    });
    if (res.new_cluster) people.expanded.add(res.new_cluster.id);
    await loadPeople();
    setStatus(
      plural(faces.length, "face") + " of #" + c.id + (faces.length === 1 ? " is" : " are") +
        " now cluster #" + (res.new_cluster ? res.new_cluster.id : "?"),
      "ok"
    );
  }

  async function removeFaces(c, faces) {
    if (!faces.length) throw new Error("select the faces to remove");
    await api("POST", "/v1/people/clusters/" + enc(c.id) + "/remove", { json: { faces: faces } });
    await loadPeople();
    setStatus("Removed " + plural(faces.length, "face") + " from " + clusterLabel(c), "ok");
  }

  async function enrollNamed() {
    const collection = el.peopleCollection.value.trim() || "default";
    clear(el.peopleEnrollResult);
    const res = await api("POST", "/v1/people/enroll", { json: { collection: collection } });
    for (const e of res.clusters || []) {
      const li = document.createElement("li");
      li.className = e.added ? "ok" : "";
      li.dataset.person = e.person;
      li.textContent =
        "✓ " + e.person + " (#" + e.cluster + "): " + plural(e.added, "face") + " added" +
        (e.already ? ", " + e.already + " already enrolled" : "") +
        (e.low_quality ? ", " + e.low_quality + " low-quality skipped" : "");
      el.peopleEnrollResult.appendChild(li);
    }
    await loadCollections(res.collection_id);
    setStatus(
      "Enrolled " + plural((res.clusters || []).length, "named cluster") + " into " +
        res.collection_id + ": " + plural(res.added, "face") + " added",
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
    forgetThumbs();
    guarded(el.keyForm.querySelector("button"), "Loading collections…", async () => {
      const cs = await loadCollections();
      if (activeTab === "people") await loadPeople();
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

  el.peopleReload.addEventListener("click", () =>
    guarded(el.peopleReload, "Loading clusters…", async () => {
      const data = await loadPeople();
      setStatus(peopleSummary(data), "ok");
    })
  );
  el.peopleSingletons.addEventListener("change", () =>
    guarded(null, "Loading clusters…", async () => {
      const data = await loadPeople();
      setStatus(peopleSummary(data), "ok");
    })
  );
  el.peopleMerge.addEventListener("click", () =>
    guarded(el.peopleMerge, "Merging clusters…", mergeClusters)
  );
  el.peopleEnroll.addEventListener("click", () =>
    guarded(el.peopleEnroll, "Enrolling named clusters…", enrollNamed)
  );
  el.peopleCollection.addEventListener("input", () => {
    el.peopleCollection.dataset.touched = "1";
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
    let tab = "gallery";
    try {
      tab = sessionStorage.getItem(TAB_STORAGE) || "gallery";
    } catch (_e) {
      /* ignore */
    }
    if (!currentKey()) {
      showTab(tab, false);
      setStatus("Enter an API key to start.", "info");
      el.key.focus();
      return;
    }
    await guarded(null, "Loading collections…", async () => {
      const cs = await loadCollections();
      setStatus("Ready — " + plural(cs.length, "collection") + " visible.", "ok");
    });
    showTab(tab, false);
  }

  start();
})();
