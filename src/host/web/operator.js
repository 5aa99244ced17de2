// salesagent operator page: keyboard review, chat and push-to-talk as progressive enhancement
// over the server-rendered forms (everything still works without this file). Same-origin only;
// every request carries the session's CSRF token.
(function () {
  'use strict';

  // ---- keyboard review on the queue ----
  var cur = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll('#queue tr.item')); }
  function select(i) {
    var rs = rows();
    if (!rs.length) { return; }
    i = Math.max(0, Math.min(rs.length - 1, i));
    rs.forEach(function (r, n) {
      r.classList.toggle('current', n === i);
      var d = r.querySelector('details.review');
      if (d) { d.open = n === i; }
    });
    cur = i;
    rs[i].scrollIntoView({ block: 'nearest' });
  }
  function nextOpen(from) {
    var rs = rows();
    for (var i = from + 1; i < rs.length; i++) { if (!rs[i].classList.contains('done')) { return i; } }
    for (var j = 0; j < from; j++) { if (!rs[j].classList.contains('done')) { return j; } }
    return from;
  }
  function setVersion(r, v) {
    r.dataset.version = v;
    r.querySelectorAll('input[name=version]').forEach(function (i) { i.value = v; });
  }
  function remaining() {
    var n = rows().filter(function (r) { return !r.classList.contains('done'); }).length;
    var el = document.getElementById('remaining');
    if (el) { el.textContent = String(n); }
  }
  function errorText(data, res) {
    return (data && data.error && data.error.message) || ('failed: HTTP ' + res.status);
  }
  function act(form) {
    // A queue row, or the draft page's review section.
    var r = form.closest('tr.item, #review');
    var msg = r.querySelector('.msg');
    var state = r.querySelector('.state') || document.getElementById('status');
    msg.textContent = '…';
    fetch(form.action, {
      method: 'POST',
      body: new URLSearchParams(new FormData(form)),
      headers: { 'Accept': 'application/json' },
      credentials: 'same-origin'
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) { msg.textContent = errorText(data, res); return; }
        state.textContent = data.status;
        setVersion(r, data.version);
        if (form.dataset.kind === 'edit') {
          r.querySelector('.diff').innerHTML = data.diff_html;
          var shown = r.querySelector('pre.body');
          if (shown && data.body !== undefined) {
            shown.textContent = r.id === 'review' ? data.subject + '\n\n' + data.body : data.body;
          }
          msg.textContent = 'Saved (version ' + data.version + '): the changes from the draft as written are marked above.';
          var t = form.querySelector('textarea');
          if (t) { t.blur(); }
          var ed = form.closest('details.edit');
          if (ed) { ed.open = false; }
        } else {
          msg.textContent = form.dataset.kind === 'approve' ? 'Approved.' : 'Rejected.';
          r.classList.add('done');
          remaining();
          select(nextOpen(cur));
        }
      });
    }).catch(function (e) { msg.textContent = 'network error: ' + e; });
  }

  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) {
      if (e.key === 'Escape') { t.blur(); }
      return;
    }
    // The queue's current row, or the draft page's review section.
    var r = document.getElementById('queue') ? rows()[cur] : document.getElementById('review');
    if (!r || (!document.getElementById('queue') && 'jks'.indexOf(e.key) >= 0)) { return; }
    switch (e.key) {
      case 'j': select(cur + 1); break;
      case 'k': select(cur - 1); break;
      case 'a': if (r && !r.classList.contains('done')) { act(r.querySelector('form[data-kind=approve]')); } break;
      case 'r': if (r) { r.querySelector('form[data-kind=reject] input[name=reason]').focus(); } break;
      case 'e': if (r) { r.querySelector('details.edit').open = true; r.querySelector('form[data-kind=edit] textarea').focus(); } break;
      case 's': if (r) { r.classList.add('skipped'); select(nextOpen(cur)); } break;
      default: return;
    }
    e.preventDefault();
  });

  document.addEventListener('keydown', function (e) {
    // Ctrl+Enter saves an edit; Enter sends a chat message (Shift+Enter: new line).
    var t = e.target;
    if (!t || t.tagName !== 'TEXTAREA' || e.key !== 'Enter') { return; }
    if (t.form && t.form.dataset.kind === 'edit' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); t.form.requestSubmit(); }
    if (t.id === 'chat-text' && !e.shiftKey) { e.preventDefault(); t.form.requestSubmit(); }
  });

  // ---- assistant chat ----
  function turn(cls, who, text) {
    var log = document.getElementById('chat-log');
    var div = document.createElement('div');
    div.className = 'turn ' + cls;
    var b = document.createElement('b');
    b.textContent = who;
    var p = document.createElement(cls === 'bot' ? 'pre' : 'p');
    p.textContent = text;
    if (cls === 'bot') {
      p.className = 'assistant-reply';
      var prev = document.getElementById('assistant-reply');
      if (prev) { prev.removeAttribute('id'); }
      p.id = 'assistant-reply';
    }
    div.appendChild(b);
    div.appendChild(p);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }
  function chatForm() { return document.getElementById('chat-form'); }
  function setConversation(id) { if (id) { chatForm().querySelector('input[name=conversation]').value = id; } }
  function ask(form) {
    var text = form.querySelector('textarea[name=text]');
    var said = text.value;
    if (!said.trim()) { return; }
    var body = new URLSearchParams(new FormData(form));
    turn('you', 'You', said);
    text.value = '';
    fetch(form.action, {
      method: 'POST',
      body: body,
      headers: { 'Accept': 'application/json' },
      credentials: 'same-origin'
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) { turn('bot err', 'Assistant', errorText(data, res)); return; }
        setConversation(data.conversation);
        turn('bot', 'Assistant', data.reply);
      });
    }).catch(function (e) { turn('bot err', 'Assistant', 'network error: ' + e); });
  }
  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (f.matches('form.js-act')) { e.preventDefault(); act(f); }
    else if (f.id === 'chat-form') { e.preventDefault(); ask(f); }
  });

  // ---- push-to-talk ----
  function b64ToBlob(b64, type) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return new Blob([bytes], { type: type });
  }
  function setupTalk() {
    var btn = document.getElementById('ptt');
    var state = document.getElementById('ptt-state');
    if (!btn || !navigator.mediaDevices || !window.MediaRecorder) { return; }
    btn.hidden = false;
    var starting = null;
    function start(e) {
      e.preventDefault();
      if (starting) { return; }
      state.textContent = 'listening…';
      btn.classList.add('on');
      starting = navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        var rec = new MediaRecorder(stream);
        var parts = [];
        rec.ondataavailable = function (ev) { if (ev.data && ev.data.size) { parts.push(ev.data); } };
        rec.start();
        return { rec: rec, stream: stream, parts: parts };
      });
      starting.catch(function (err) { state.textContent = 'microphone unavailable: ' + err; starting = null; btn.classList.remove('on'); });
    }
    function stop(e) {
      e.preventDefault();
      if (!starting) { return; }
      var s = starting;
      starting = null;
      btn.classList.remove('on');
      s.then(function (r) {
        r.rec.onstop = function () {
          r.stream.getTracks().forEach(function (t) { t.stop(); });
          var blob = new Blob(r.parts, { type: r.rec.mimeType || 'audio/webm' });
          send(blob);
        };
        r.rec.stop();
      });
    }
    function send(blob) {
      state.textContent = 'sending ' + blob.size + ' bytes…';
      var form = chatForm();
      var conv = form.querySelector('input[name=conversation]').value;
      var csrf = form.querySelector('input[name=csrf]').value;
      fetch('/operator/assistant/audio' + (conv ? '?conversation=' + encodeURIComponent(conv) : ''), {
        method: 'POST',
        body: blob,
        headers: { 'Content-Type': (blob.type || 'audio/webm').split(';')[0], 'X-CSRF-Token': csrf, 'Accept': 'application/json' },
        credentials: 'same-origin'
      }).then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (data) {
          if (!res.ok) { state.textContent = errorText(data, res); return; }
          state.textContent = '';
          setConversation(data.session);
          turn('you spoken', 'You (spoken)', data.transcript || '');
          var div = turn('bot', 'Assistant', data.reply || '');
          if (data.audio && data.audio.base64) {
            var audio = document.createElement('audio');
            audio.controls = true;
            audio.id = 'reply-audio';
            var old = document.getElementById('reply-audio');
            if (old) { old.removeAttribute('id'); }
            audio.src = URL.createObjectURL(b64ToBlob(data.audio.base64, data.audio.mime_type));
            audio.addEventListener('playing', function () { audio.dataset.played = 'yes'; });
            div.appendChild(audio);
            audio.play().catch(function (err) { state.textContent = 'press play to hear the answer (' + err.name + ')'; });
          }
        });
      }).catch(function (e) { state.textContent = 'network error: ' + e; });
    }
    btn.addEventListener('pointerdown', start);
    btn.addEventListener('pointerup', stop);
    btn.addEventListener('pointerleave', stop);
    btn.addEventListener('keydown', function (e) { if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) { start(e); } });
    btn.addEventListener('keyup', function (e) { if (e.key === ' ' || e.key === 'Enter') { stop(e); } });
  }

  function init() {
    document.querySelectorAll('.js-only').forEach(function (el) { el.hidden = false; });
    if (rows().length) { select(0); }
    setupTalk();
    document.documentElement.dataset.enhanced = 'yes';
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', init); } else { init(); }
}());
