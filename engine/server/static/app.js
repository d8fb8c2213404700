// certflow pages: pickers, line editor, keyboard operation, receipts, the
// card signature prompt. The server checks everything; this only helps typing.
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const lang = document.body.dataset.lang || "zh";
  const t = (zh, en) => (lang === "zh" ? zh : en);
  const messages = (() => { const m = $("#messages"); return m ? JSON.parse(m.textContent) : {}; })();
  const params = (() => { const p = $("#params"); return p ? JSON.parse(p.textContent) : {}; })();

  // Entry hint of the focused field at the bottom of the page (GEN-3).
  document.addEventListener("focusin", (e) => {
    const hint = e.target && e.target.dataset ? e.target.dataset.hint : null;
    const bar = $("#hint-bar");
    if (bar) bar.textContent = hint || "";
  });

  // Shortcut list.
  const shortcuts = $("#shortcuts");
  const openShortcuts = () => shortcuts && !shortcuts.open && shortcuts.showModal();
  const sb = $("#shortcut-button");
  if (sb) sb.addEventListener("click", openShortcuts);

  // ---- parameter pickers (GEN-4) ----
  let popup = null;
  function closePicker() { if (popup) { popup.remove(); popup = null; } }
  function rowsFor(input) { return params[input.dataset.param] || []; }
  function labelFor(input, code) {
    const row = rowsFor(input).find((r) => r[0] === code);
    return row ? (lang === "zh" ? row[1] : (row[2] || row[1])) : "";
  }
  function showLabel(input) {
    const span = document.querySelector(`.param-label[data-for="${input.id}"]`);
    if (span) span.textContent = labelFor(input, input.value.trim());
  }
  function openPicker(input) {
    closePicker();
    const q = input.value.trim().toLowerCase();
    const matches = rowsFor(input).filter((r) =>
      !q || r[0].toLowerCase().includes(q) || r[1].includes(input.value.trim()) || (r[2] || "").toLowerCase().includes(q));
    popup = document.createElement("ul");
    popup.className = "picker-list";
    popup.setAttribute("role", "listbox");
    matches.slice(0, 200).forEach((r, i) => {
      const li = document.createElement("li");
      li.dataset.code = r[0];
      li.textContent = `${r[0]} ${r[1]}${r[2] ? " " + r[2] : ""}`;
      if (i === 0) li.classList.add("active");
      li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(input, r[0]); });
      popup.appendChild(li);
    });
    if (!matches.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = t("无匹配参数", "No match");
      popup.appendChild(li);
    }
    input.parentElement.appendChild(popup);
  }
  function pick(input, code) {
    input.value = code;
    showLabel(input);
    closePicker();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }
  function movePicker(delta) {
    const items = $$("li[data-code]", popup);
    let i = items.findIndex((li) => li.classList.contains("active"));
    if (i >= 0) items[i].classList.remove("active");
    i = Math.max(0, Math.min(items.length - 1, i + delta));
    if (items[i]) { items[i].classList.add("active"); items[i].scrollIntoView({ block: "nearest" }); }
  }
  document.addEventListener("input", (e) => {
    if (e.target.classList && e.target.classList.contains("picker")) { showLabel(e.target); openPicker(e.target); }
  });
  document.addEventListener("focusout", (e) => {
    if (e.target.classList && e.target.classList.contains("picker")) { showLabel(e.target); setTimeout(closePicker, 100); }
  });
  $$("input.picker").forEach(showLabel);

  // Calendar buttons copy into the text date field.
  $$("input.date-picker").forEach((p) => p.addEventListener("change", () => {
    const target = document.getElementById(p.dataset.for);
    if (target) { target.value = p.value; target.focus(); }
  }));

  // ---- line tables (IN-5) ----
  function lineTables() { return $$(".line-table"); }
  function editorInputs(table) { return $$(".line-editor input:not(.date-picker), .line-editor textarea", table); }
  // A checkbox's value is whether it is ticked ("true" or nothing).
  function valueOf(input) { return input.type === "checkbox" ? (input.checked ? "true" : "") : input.value.trim(); }
  function setValue(input, value) { if (input.type === "checkbox") input.checked = value === "true"; else input.value = value; }
  function fieldOf(input) { return input.id.replace(`edit-${input.closest(".line-table").dataset.table}-`, ""); }
  function rowsOf(table) { return $$("tbody tr.line", table); }
  function renumber(table) {
    const id = table.dataset.table;
    rowsOf(table).forEach((tr, i) => {
      const n = i + 1;
      tr.dataset.n = n;
      $(".item-no", tr).textContent = n;
      $$("input[type=hidden]", tr).forEach((h) => { h.name = `t.${id}.${n}.${h.name.split(".").pop()}`; });
    });
    const no = $(".editor-item-no", table);
    if (no && !table.dataset.editing) no.textContent = rowsOf(table).length + 1;
  }
  function clearEditor(table) {
    delete table.dataset.editing;
    editorInputs(table).forEach((i) => { setValue(i, ""); if (i.classList.contains("picker")) showLabel(i); });
    $$(".line-editor .field-error", table).forEach((e) => (e.textContent = ""));
    $$(".line-editor .field", table).forEach((f) => f.classList.remove("has-error"));
    $(".editor-item-no", table).textContent = rowsOf(table).length + 1;
    rowsOf(table).forEach((r) => r.classList.remove("editing"));
  }
  function editorHasData(table) { return editorInputs(table).some((i) => valueOf(i) !== ""); }
  function storeLine(table) {
    if (!editorHasData(table)) return false;
    const id = table.dataset.table;
    let tr = table.dataset.editing ? rowsOf(table)[Number(table.dataset.editing) - 1] : null;
    if (!tr) {
      tr = document.createElement("tr");
      tr.className = "line";
      const n = rowsOf(table).length + 1;
      tr.innerHTML = `<td><input type="checkbox" class="line-select"></td><td class="item-no">${n}</td>`;
      $$("thead th[data-field]", table).forEach((th) => {
        const td = document.createElement("td");
        td.dataset.field = th.dataset.field;
        td.innerHTML = `<span class="cell-text"></span><input type="hidden" name="t.${id}.${n}.${th.dataset.field}">`;
        tr.appendChild(td);
      });
      $("tbody", table).appendChild(tr);
    }
    editorInputs(table).forEach((input) => {
      const td = $(`td[data-field="${fieldOf(input)}"]`, tr);
      if (!td) return;
      $("input[type=hidden]", td).value = valueOf(input);
      $(".cell-text", td).textContent = valueOf(input);
      const shownLabel = $(".cell-label", td);
      if (shownLabel) shownLabel.remove(); // the code's name, as the server had it
      td.classList.remove("cell-error");
      const err = $(".field-error", td);
      if (err) err.remove();
    });
    tr.classList.remove("has-error");
    renumber(table);
    clearEditor(table);
    return true;
  }
  function loadLine(table, tr) {
    table.dataset.editing = tr.dataset.n;
    rowsOf(table).forEach((r) => r.classList.toggle("editing", r === tr));
    $(".editor-item-no", table).textContent = tr.dataset.n;
    editorInputs(table).forEach((input) => {
      const td = $(`td[data-field="${fieldOf(input)}"]`, tr);
      setValue(input, td ? $("input[type=hidden]", td).value : "");
      if (input.classList.contains("picker")) showLabel(input);
      const label = input.closest(".field");
      const err = td ? $(".field-error", td) : null;
      if (label) {
        label.classList.toggle("has-error", !!err);
        $(".field-error", label).textContent = err ? err.dataset.errors : "";
      }
    });
    const first = editorInputs(table)[0];
    if (first) first.focus();
  }
  function deleteLines(table) {
    const selected = rowsOf(table).filter((tr) => $(".line-select", tr).checked);
    if (!selected.length) { alert(t("请至少选择一条数据！", "Select at least one line first.")); return; }
    if (!confirm("是否确认删除已选中的数据？" + (lang === "en" ? "\nDelete the selected lines?" : ""))) return;
    selected.forEach((tr) => tr.remove());
    renumber(table);
    clearEditor(table);
  }
  // 上移 / 下移 (OUT-8): the ticked lines move one place, keeping their order.
  function moveLines(table, up) {
    const rows = rowsOf(table);
    const selected = rows.filter((tr) => $(".line-select", tr).checked);
    if (!selected.length) { alert(t("请至少选择一条数据！", "Select at least one line first.")); return; }
    const ordered = up ? selected : selected.slice().reverse();
    ordered.forEach((tr) => {
      const sibling = up ? tr.previousElementSibling : tr.nextElementSibling;
      if (!sibling || selected.includes(sibling)) return;
      if (up) sibling.before(tr); else sibling.after(tr);
    });
    clearEditor(table);
    renumber(table);
  }
  lineTables().forEach((table) => {
    const on = (sel, fn) => { const b = $(sel, table); if (b) b.addEventListener("click", fn); };
    on(".line-up", () => moveLines(table, true));
    on(".line-down", () => moveLines(table, false));
    on(".line-new", () => { clearEditor(table); const f = editorInputs(table)[0]; if (f) f.focus(); });
    on(".line-save", () => storeLine(table));
    on(".line-delete", () => deleteLines(table));
    on(".line-import", () => {
      const d = $("#import-dialog");
      const doc = $("#doc-form");
      $("#import-form").action = `${doc.action}/tables/${table.dataset.table}/import`;
      $("#import-template").href = `/doctypes/${doc.dataset.doctype}/tables/${table.dataset.table}/template.xlsx`;
      d.showModal();
    });
    $("tbody", table).addEventListener("click", (e) => {
      const tr = e.target.closest("tr.line");
      if (tr && !e.target.classList.contains("line-select") && $(".line-editor", table)) loadLine(table, tr);
    });
  });
  const importClose = $("#import-close");
  if (importClose) importClose.addEventListener("click", () => $("#import-dialog").close());

  // ---- the local signer (E-Port client or certflow agent, GEN-1/GEN-2) ----
  // One WebSocket, E-Port client requests {_method, _id, args}; replies carry
  // the same _id. Errors keep the signer's own (Chinese) wording.
  const signer = (() => {
    const url = document.body.dataset.signer;
    let socket = null;
    let next = 1;
    const pending = new Map();
    const unreachable = () => Object.assign(new Error(t(
      `未检测到卡介质客户端控件（${url}），请启动中国电子口岸客户端或 certflow agent 后重试`,
      `The card client does not answer at ${url}: start the E-Port client or certflow agent and try again`)), { unreachable: true });
    function open() {
      if (socket && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
      return new Promise((resolve, reject) => {
        let ws;
        try { ws = new WebSocket(url); } catch (_) { reject(unreachable()); return; }
        const timer = setTimeout(() => { ws.close(); reject(unreachable()); }, 3000);
        ws.onopen = () => { clearTimeout(timer); socket = ws; resolve(ws); };
        ws.onerror = () => { clearTimeout(timer); reject(unreachable()); };
        ws.onclose = () => {
          if (socket === ws) socket = null;
          pending.forEach((p) => p.reject(Object.assign(new Error(t("与卡介质客户端的连接已断开，请检查卡介质后重试",
            "The card client closed the connection: check your card and try again")), { unreachable: true })));
          pending.clear();
        };
        ws.onmessage = (ev) => {
          let reply;
          try { reply = JSON.parse(ev.data); } catch (_) { return; }
          const p = pending.get(reply._id);
          if (!p) return;
          pending.delete(reply._id);
          const args = reply._args || {};
          if (args.Result) p.resolve(args.Data || []);
          else p.reject(new Error((args.Error || []).join("；") || t("卡介质操作失败", "The card operation failed")));
        };
      });
    }
    async function call(method, args) {
      const ws = await open();
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ _method: method, _id: id, args: args || {} }));
      });
    }
    return {
      url,
      cardId: async () => (await call("cus-sec_SpcGetCardID"))[0],
      signRandom: async (random, passwd) => (await call("cus-sec_SpcSignRandom", { random, passwd }))[0],
      signData: async (inData, passwd) => (await call("cus-sec_SpcSignDataAsPEM", { inData, passwd }))[0],
    };
  })();

  // The message of a JSON API error ({error: {message_zh, message_en}}).
  async function apiError(res) {
    try {
      const e = (await res.json()).error || {};
      return (lang === "zh" ? e.message_zh : e.message_en || e.message_zh) || `HTTP ${res.status}`;
    } catch (_) {
      return t(`服务器返回错误（HTTP ${res.status}），请刷新页面后重试`, `The server answered HTTP ${res.status}: reload the page and try again`);
    }
  }

  // The PIN prompt of a signing action; resolves with the PIN, or null.
  function askPin(cardLine) {
    const dialog = $("#pin-dialog");
    $("#pin-input").value = "";
    $("#pin-card").textContent = cardLine;
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", function once() {
        dialog.removeEventListener("close", once);
        resolve(dialog.returnValue === "ok" ? $("#pin-input").value : null);
      });
    });
  }

  // Card login: the card's number from the signer, the server's nonce signed
  // by SpcSignRandom. Without a signer, development soft cards log in by PIN.
  const loginForm = $("#login-form");
  if (loginForm) {
    const status = $("#signer-status");
    const showError = (text) => { $("#login-error").textContent = text; };
    signer.cardId().then((cardNo) => {
      $("#card_no").value = cardNo;
      $("#card_no").readOnly = true;
      loginForm.dataset.signer = "true";
      status.className = "signer-status ok";
      status.textContent = t(`已连接卡介质客户端，卡号 ${cardNo}`, `Card client connected, card ${cardNo}`);
      $("#pin").focus();
    }).catch((err) => {
      status.className = "signer-status missing";
      status.textContent = err.unreachable
        ? err.message + t("。开发软卡可直接输入卡号和密码登录。", ". Development soft cards can log in with card number and PIN.")
        : err.message;
    });
    loginForm.addEventListener("submit", async (e) => {
      if (loginForm.dataset.signer !== "true") return;
      e.preventDefault();
      const button = $("#login-button");
      button.disabled = true;
      try {
        const cardNo = await signer.cardId();
        const issued = await fetch("/api/v1/login/challenge", { method: "POST", headers: { Accept: "application/json" } });
        if (!issued.ok) throw new Error(await apiError(issued));
        const challenge = await issued.json();
        const signature = await signer.signRandom(challenge.nonce, $("#pin").value);
        const res = await fetch("/api/v1/login/card", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ card_no: cardNo, nonce: challenge.nonce, signature }),
        });
        if (!res.ok) throw new Error(await apiError(res));
        location.href = (await res.json()).enterprise ? "/" : "/officer";
      } catch (err) {
        showError(err.message);
        button.disabled = false;
      }
    });
  }

  // Keep what is in a line editor when the form is sent. An action that
  // signs (申报, 上传 …) first asks the server for the exact text to sign,
  // has the card sign it through the local signer, then posts the form with
  // the card number and signature. If anything fails nothing is posted.
  document.addEventListener("submit", async (e) => {
    const form = e.target;
    const button = e.submitter;
    // 是否确认提交 / 是否确认删除已选中的数据？: asked once, before signing.
    if (button && button.dataset.confirm && form.dataset.confirmed !== button.value) {
      if (!confirm(button.dataset.confirm)) { e.preventDefault(); return; }
      form.dataset.confirmed = button.value;
    }
    if (form.id === "doc-form") lineTables().forEach((table) => { if ($(".line-editor", table)) storeLine(table); });
    if (!button || button.dataset.sign !== "true" || form.dataset.signed === "true") return;
    e.preventDefault();
    const post = () => { form.dataset.signed = "true"; form.requestSubmit(button); };
    const hidden = (name, value) => { const i = form.querySelector(`[name=${name}]`); if (i) i.value = value; };
    let cardNo = null;
    try {
      cardNo = await signer.cardId();
    } catch (err) {
      if (!(err.unreachable && form.dataset.devPin === "true")) { alert(err.message); return; }
    }
    const pin = await askPin(cardNo ? t(`卡号 ${cardNo}`, `Card ${cardNo}`)
      : t("未连接卡介质客户端：使用开发软卡密码签名", "No card client: signing with the development soft card PIN"));
    if (pin === null) return;
    if (!cardNo) { hidden("card_pin", pin); post(); return; }
    // What is signed: the form as it will be posted, or (uploads) the
    // document as stored.
    const stored = form.dataset.toSign === "stored";
    const body = stored
      ? new URLSearchParams({ _csrf: form.querySelector("[name=_csrf]").value, data: "stored" })
      : new URLSearchParams(new FormData(form));
    // The action shapes what is signed (a confirmation signs the stored
    // document with the answer, a submission the validated form).
    if (button.name === "action" && !stored) body.set("action", button.value);
    const res = await fetch(`/documents/${form.dataset.document}/to-sign`, { method: "POST", body, headers: { Accept: "application/json" } });
    if (res.status === 422 && !stored) { post(); return; } // the server shows what to correct
    if (res.status === 422) {
      const errors = (await res.json()).errors || [];
      alert(errors.map((e) => `${e.path}: ${lang === "zh" ? e.message_zh : e.message_en}`).join("\n"));
      return;
    }
    if (!res.ok) { alert(await apiError(res)); return; }
    const reply = await res.json();
    try {
      hidden("card_signature", await signer.signData(reply.to_sign, pin));
      hidden("card_no", cardNo);
    } catch (err) {
      alert(err.message);
      return;
    }
    post();
  });

  // ---- keyboard (GEN-5) ----
  function focusables() {
    return $$("input:not([type=hidden]):not([readonly]):not([disabled]):not(.date-picker):not(.line-select), select, textarea:not([readonly])")
      .filter((el) => el.offsetParent !== null);
  }
  function moveFocus(from, delta) {
    const all = focusables();
    const i = all.indexOf(from);
    if (i >= 0 && all[i + delta]) all[i + delta].focus();
  }
  document.addEventListener("keydown", (e) => {
    const el = e.target;
    if (e.key === "F1") { e.preventDefault(); openShortcuts(); return; }
    if (e.altKey && !e.ctrlKey) {
      const key = e.key.toLowerCase();
      if (key === "s") { const b = $("#action-save"); if (b) { e.preventDefault(); b.click(); } return; }
      if (key === "d") { const tbl = el.closest && el.closest(".line-table"); if (tbl) { e.preventDefault(); deleteLines(tbl); } return; }
      if (key === "c") {
        const tbl = el.closest && el.closest(".line-table");
        if (tbl && tbl.dataset.editing) { e.preventDefault(); delete tbl.dataset.editing; $(".editor-item-no", tbl).textContent = rowsOf(tbl).length + 1; rowsOf(tbl).forEach((r) => r.classList.remove("editing")); }
        return;
      }
      if (key === "p") { e.preventDefault(); window.print(); return; }
    }
    if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement)) return;
    if (el.classList.contains("picker")) {
      if (e.key === " " && (!popup || el.value === "")) { e.preventDefault(); openPicker(el); return; }
      if (popup && (e.key === "ArrowDown" || e.key === "ArrowUp")) { e.preventDefault(); movePicker(e.key === "ArrowDown" ? 1 : -1); return; }
      if (popup && e.key === "Enter") {
        e.preventDefault();
        const active = $("li.active", popup);
        if (active) pick(el, active.dataset.code); else closePicker();
        moveFocus(el, 1);
        return;
      }
    }
    if (e.key === "Escape") {
      if (popup) { closePicker(); } else if (!el.readOnly) { el.value = ""; if (el.classList.contains("picker")) showLabel(el); }
      e.preventDefault();
      return;
    }
    if (e.key === "ArrowUp" && !popup && el.tagName !== "TEXTAREA" && el.tagName !== "SELECT") { e.preventDefault(); moveFocus(el, -1); return; }
    if (e.key === "Enter" && el.tagName !== "TEXTAREA" && el.type !== "submit" && el.closest("#doc-form")) {
      e.preventDefault();
      const table = el.closest(".line-table");
      const inputs = table ? editorInputs(table) : [];
      if (table && inputs[inputs.length - 1] === el) { storeLine(table); const f = inputs[0]; if (f) f.focus(); return; }
      moveFocus(el, 1);
    }
  });

  // ---- list pages (IN-1, GEN-6, GEN-7) ----
  const results = $("#results");
  if (results) {
    const view = $(".list-view").dataset.view;
    const key = `certflow.columns.${view}`;
    const hidden = new Set(JSON.parse(localStorage.getItem(key) || "null") || $$("#column-chooser input:not(:checked)").map((i) => i.dataset.column));
    const applyColumns = () => $$("[data-column]", results).forEach((c) => { c.hidden = hidden.has(c.dataset.column); });
    $$("#column-chooser input").forEach((box) => {
      box.checked = !hidden.has(box.dataset.column);
      box.addEventListener("change", () => {
        if (box.checked) hidden.delete(box.dataset.column); else hidden.add(box.dataset.column);
        localStorage.setItem(key, JSON.stringify(Array.from(hidden)));
        applyColumns();
      });
    });
    applyColumns();
    const selected = () => $$("tbody tr[data-id]", results).filter((tr) => $(".row-select", tr).checked);
    const refresh = () => {
      const rows = selected();
      $("#selected-count b").textContent = rows.length;
      $$(".row-action").forEach((b) => { b.disabled = !(rows.length === 1 && rows[0].dataset.actions.split(" ").includes(b.dataset.action)); });
    };
    results.addEventListener("change", refresh);
    $$(".row-action").forEach((b) => b.addEventListener("click", () => {
      const rows = selected();
      if (rows.length !== 1) { alert(t("请选择一条数据！", "Select one row.")); return; }
      const id = rows[0].dataset.id;
      location.href = b.dataset.opens === "form" ? `/documents/${id}/edit` : `/documents/${id}/attachments`;
    }));
    let receiptsFor = null;
    const loadReceipts = async () => {
      const res = await fetch(`/api/v1/documents/${receiptsFor}/receipts`, { headers: { Accept: "application/json" } });
      const body = $("#receipts tbody");
      body.innerHTML = "";
      if (!res.ok) return;
      const list = await res.json();
      list.forEach((r, i) => {
        const tr = document.createElement("tr");
        [i + 1, r.received_at, lang === "zh" ? r.status_zh : r.status_en, r.detail || "-", r.receipt_no].forEach((v) => {
          const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      $("#receipts").hidden = false;
    };
    results.addEventListener("click", (e) => {
      const refused = e.target.closest(".view-link[data-refused]");
      if (refused) { e.preventDefault(); alert(refused.dataset.refused); return; }
      const link = e.target.closest(".receipts-link");
      if (link) { e.preventDefault(); receiptsFor = link.dataset.id; loadReceipts(); }
    });
    $("#receipts-refresh").addEventListener("click", loadReceipts);
    $("#receipts-close").addEventListener("click", () => { $("#receipts").hidden = true; });
  }
  // Look-ups (检验检疫编号 + Enter): the form goes to the look-up, which
  // fills it from the record and keeps what was typed elsewhere.
  const lookupKeys = $("#lookup-keys");
  const docForm = $("#doc-form");
  if (lookupKeys && docForm && !docForm.classList.contains("read-only")) {
    JSON.parse(lookupKeys.textContent).forEach((l) => {
      const input = $(`#f-${l.field}`);
      if (!input || input.readOnly) return;
      const button = document.createElement("button");
      button.type = "submit";
      button.className = "lookup";
      button.id = `lookup-${l.id}`;
      button.formAction = `/documents/${docForm.dataset.document}/lookups/${l.id}`;
      button.textContent = t("查询", "Look up");
      input.after(button);
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") { e.preventDefault(); e.stopPropagation(); docForm.requestSubmit(button); }
      }, true);
    });
  }

  // 添加证书: kind → its formats; blank or by a similar inspection number.
  $$(".child-add").forEach((b) => b.addEventListener("click", () => {
    const dialog = $(`#${b.dataset.slot}-dialog`);
    const kinds = JSON.parse($(".child-kinds", dialog).textContent);
    const kind = $(".child-kind", dialog);
    const format = $(".child-format", dialog);
    const fill = () => {
      format.innerHTML = "";
      const k = kinds.find((x) => x.code === kind.value);
      (k ? k.formats : []).forEach((f) => {
        const o = document.createElement("option");
        o.value = f.id; o.textContent = `${f.code || ""} ${f.name}`.trim();
        format.appendChild(o);
      });
    };
    kind.onchange = fill;
    fill();
    const similar = $(".similar", dialog);
    $$("input[name=mode]", dialog).forEach((r) => { r.onchange = () => { similar.hidden = r.value !== "similar" || !r.checked; }; });
    $(".similar-search", dialog).onclick = async () => {
      const number = $(".similar-number", dialog).value.trim();
      const res = await fetch(`/documents/${docForm.dataset.document}/children/${b.dataset.slot}/similar?doctype=${encodeURIComponent(format.value)}&number=${encodeURIComponent(number)}`, { headers: { Accept: "application/json" } });
      if (!res.ok) { alert(await apiError(res)); return; }
      const body = $(".similar-rows tbody", dialog);
      body.innerHTML = "";
      const rows = await res.json();
      if (!rows.length) { body.innerHTML = `<tr><td colspan="5" class="empty">${t("暂无数据", "Nothing found")}</td></tr>`; return; }
      rows.forEach((r, i) => {
        const tr = document.createElement("tr");
        const td = document.createElement("td");
        const radio = document.createElement("input");
        radio.type = "radio"; radio.name = "similar"; radio.value = r.id; radio.checked = i === 0;
        td.appendChild(radio); tr.appendChild(td);
        [r.unified_no, r.cert_no, r.category, r.format].forEach((v) => { const c = document.createElement("td"); c.textContent = v || "-"; tr.appendChild(c); });
        body.appendChild(tr);
      });
    };
    $(".dialog-close", dialog).onclick = () => dialog.close();
    dialog.showModal();
  }));

  // 英文转大写 (OUT-7): while ticked, what is typed in Latin-letter fields is
  // upper-cased, and ticking it upper-cases what is there. Remembered per browser.
  const upper = $("#uppercase-switch");
  if (upper) {
    const latin = () => $$("[data-latin=true]").filter((el) => !el.readOnly);
    const apply = () => { if (upper.checked) latin().forEach((el) => { el.value = el.value.toUpperCase(); }); };
    upper.checked = localStorage.getItem("certflow-uppercase") === "1";
    upper.addEventListener("change", () => { localStorage.setItem("certflow-uppercase", upper.checked ? "1" : "0"); apply(); });
    document.addEventListener("input", (e) => {
      if (!upper.checked || e.target.dataset.latin !== "true") return;
      const el = e.target;
      const [start, end] = [el.selectionStart, el.selectionEnd];
      el.value = el.value.toUpperCase();
      if (start !== null) el.setSelectionRange(start, end);
    });
    apply();
  }

  if (messages.alert) alert(messages.alert);
})();
