// beacon.js: the few things htmx 4 and its hx-sse extension do not do for
// Beacon's pages. No framework, no build step, no inline code (strict CSP).
(function () {
  'use strict';

  // These mirror views/ids.go: change both together.
  var BEACON = {
    live: 'live',                   // views.IDLive: holds the page's SSE connection
    indicator: 'live-indicator',    // views.IDIndicator
    activity: 'activity-list',      // views.IDActivity
    notice: 'live-notice',          // views.IDNotice
    eventResync: 'beacon:resync',   // views.EventResync
    activityItems: 50,              // views.ActivityItems
    lists: [                        // live lists: views.IDActivity, IDMessages, IDNotifications
      { id: 'activity-list', top: true },
      { id: 'messages', top: false },
      { id: 'notification-list', top: true }
    ],
    socket: 'room-socket',          // views.IDRoomSocket: holds a room page's WebSocket
    chatForm: 'chat-form',          // views.IDChatForm
    formatClock: 'clock',           // views.TimeFormatClock
    // The panels the live connection keeps current (views' class names).
    livePanels: '.metrics-panel, .chart-panel, .rooms-panel, .activity-panel, .messages-panel, .online-panel, .notifications-panel',
    staleMark: 'stale-mark',
    chatError: 'chat-error',        // views.IDChatError
    socketCheck: 'X-Beacon-Socket-Check' // views.HeaderSocketCheck
  };

  var LABELS = {
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    offline: 'Offline'
  };

  var byId = function (id) { return document.getElementById(id); };
  var isLive = function (e) { return e.target instanceof Element && e.target.id === BEACON.live; };
  var sse = function () { var el = byId(BEACON.live); return el && el._htmx && el._htmx.sse; };

  var wasLive = false;       // the stream has been open at least once
  var skipNextWait = false;  // cancel the backoff wait that hx-sse is about to start
  var refused = false;       // the server refused the stream (a 4xx): stop trying
  var firstTry = { attempt: 0, timer: 0 };

  // (1) The connection indicator.
  function setState(state) {
    var el = byId(BEACON.indicator);
    if (!el) return;
    if (state !== 'live' && !navigator.onLine) state = 'offline';
    if (el.dataset.state === state) return; // announce changes only
    el.dataset.state = state;
    el.textContent = LABELS[state];
  }

  function notify(text) {
    var el = byId(BEACON.notice);
    if (el) el.textContent = text;
  }

  // A 4xx other than a timeout or a rate limit will not change by retrying
  // (signed out, forbidden, unknown topic): stop and say so.
  function isRefusal(status) {
    return status >= 400 && status < 500 && status !== 408 && status !== 429;
  }

  function refuse(status) {
    refused = true;
    setState('offline');
    notify('The live connection was refused (HTTP ' + status + '). Reload the page to try again.');
  }

  // (2) Reconnect at once (tab visible again, back online) instead of waiting
  // out the backoff. While hx-sse is paused or between waits there is no
  // canceller yet: flag it, and the next before:connection cancels its wait.
  function reconnectNow() {
    if (refused) return;
    var conn = sse();
    if (conn) {
      if (conn.delayCanceller) conn.delayCanceller();
      else if (!conn.reader) skipNextWait = true;
    } else if (firstTry.timer) {
      clearTimeout(firstTry.timer);
      connectFirst();
    }
  }

  // hx-sse retries only once a stream has been opened: when the very first
  // request fails (network error, a 5xx page instead of a stream), try again
  // with the same jittered backoff.
  function connectFirst() {
    firstTry.timer = 0;
    var el = byId(BEACON.live);
    if (!el || sse() || !window.htmx) return;
    htmx.ajax('GET', el.getAttribute('hx-sse:connect'), { source: el });
  }

  document.addEventListener('htmx:finally:request', function (e) {
    if (!isLive(e) || sse() || refused) return;
    var status = e.detail && e.detail.ctx && e.detail.ctx.response && e.detail.ctx.response.status;
    if (isRefusal(status)) { refuse(status); return; }
    setState('reconnecting');
    var delay = Math.min(500 * Math.pow(2, firstTry.attempt++), 60000);
    firstTry.timer = setTimeout(connectFirst, delay * (0.7 + Math.random() * 0.6));
  });

  document.addEventListener('htmx:sse:after:connection', function (e) {
    if (!isLive(e)) return;
    wasLive = true;
    firstTry.attempt = 0;
    setState('live');
  });

  document.addEventListener('htmx:sse:before:connection', function (e) {
    if (!isLive(e)) return;
    if (wasLive) setState('reconnecting');
    if (skipNextWait) {
      skipNextWait = false;
      // hx-sse sets delayCanceller right after this event returns.
      queueMicrotask(function () {
        var conn = sse();
        if (conn && conn.delayCanceller) conn.delayCanceller();
      });
    }
  });

  document.addEventListener('htmx:sse:error', function (e) {
    if (!isLive(e)) return;
    var d = e.detail || {};
    if (isRefusal(d.status) && d.connection) {
      // hx-sse would retry forever; this makes it give up (and close) now.
      d.connection.config.reconnect = false;
      refuse(d.status);
      return;
    }
    setState('reconnecting');
  });

  document.addEventListener('htmx:sse:close', function (e) {
    if (isLive(e)) setState('offline');
  });

  window.addEventListener('offline', function () { setState('offline'); });
  window.addEventListener('online', function () {
    if (refused) return;
    var conn = sse();
    // The stream may have survived a short outage; then nothing fires to say so.
    setState(conn && conn.reader ? 'live' : wasLive ? 'reconnecting' : 'connecting');
    reconnectNow();
  });
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) reconnectNow();
  });

  // (3) After every swap: drop a second copy of an item (ids are event-log
  // positions; a replay that overlaps the page inserts a copy, and the copy
  // already in its place is the one kept: for lists that grow at the top,
  // the lower one), then keep the feed at its length.
  function dedupe(list, growsAtTop) {
    var items = Array.prototype.slice.call(list.children);
    if (growsAtTop) items.reverse();
    var seen = new Set();
    var kept = items.filter(function (item) {
      if (item.id && seen.has(item.id)) { item.remove(); return false; }
      seen.add(item.id);
      return true;
    });
    return growsAtTop ? kept.reverse() : kept;
  }
  document.addEventListener('htmx:after:swap', function () {
    BEACON.lists.forEach(function (l) {
      var list = byId(l.id);
      if (!list) return;
      var kept = dedupe(list, l.top);
      if (l.id === BEACON.activity) kept.slice(BEACON.activityItems).forEach(function (item) { item.remove(); });
    });
  });

  // (4) The server re-rendered the current state instead of replaying the gap.
  document.addEventListener(BEACON.eventResync, function (e) {
    if (isLive(e)) notify('Reconnected after a long gap: showing the current state.');
  });

  // (5) A room page's WebSocket (htmx's hx-ws). It has no Last-Event-ID, so
  // remember the id of the last message received and reconnect from it:
  // hx-ws reconnects to connection.url, which is rewritten on close.
  var isSocket = function (e) { return e.target instanceof Element && e.target.id === BEACON.socket; };
  var lastSocketId = '';
  document.addEventListener('htmx:ws:before:message:incoming', function (e) {
    if (!isSocket(e) || typeof e.detail.message.data !== 'string') return;
    try {
      var msg = JSON.parse(e.detail.message.data);
      if (msg && typeof msg.id === 'string' && msg.id) lastSocketId = msg.id;
    } catch (err) { /* not JSON: nothing to remember */ }
  });
  var socketOpen = false, socketEverOpen = false, socketExplained = false;
  document.addEventListener('htmx:ws:after:connection', function (e) {
    if (!isSocket(e)) return;
    socketOpen = socketEverOpen = true;
    if (socketExplained) { socketExplained = false; showSocketProblem(''); }
    setState('live');
  });

  // A browser cannot read why an upgrade was refused (403, 401, 429, or a
  // proxy that dropped the upgrade): ask the same URL with a plain GET,
  // which the server answers with the reason, and show it.
  function showSocketProblem(text) {
    var el = byId(BEACON.chatError);
    if (el) el.textContent = text;
    notify(text);
  }
  function checkSocket(conn) {
    var url = new URL(conn.url, location.href);
    url.protocol = location.protocol;
    var headers = { Accept: 'application/json' };
    headers[BEACON.socketCheck] = location.origin;
    fetch(url.toString(), { headers: headers, credentials: 'same-origin', cache: 'no-store' }).then(function (resp) {
      if (resp.ok) {
        if (!socketEverOpen) {
          socketExplained = true;
          showSocketProblem('The server would take this room\'s connection, but the WebSocket did not get through: ' +
            'a proxy in between may not pass the upgrade (Upgrade and Connection headers). Retrying…');
        }
        return;
      }
      return resp.json().then(function (body) {
        var why = (body && body.error) || ('HTTP ' + resp.status);
        if (body && body.field) why = body.field + ': ' + why;
        if (isRefusal(resp.status)) {
          // Retrying will not change it: cancel the reconnect hx-ws has
          // scheduled, and any later one.
          conn.config.reconnect = false;
          clearTimeout(conn.timer);
          setState('offline');
        }
        socketExplained = true;
        showSocketProblem('The server refused this room\'s connection: ' + why);
      });
    }).catch(function () { /* the server is away: hx-ws retries, and the next failure asks again */ });
  }

  document.addEventListener('htmx:ws:close', function (e) {
    if (!isSocket(e)) return;
    var d = e.detail || {};
    var opened = socketOpen;
    socketOpen = false;
    if (!opened && d.reason === 'closed' && d.code !== 1008 && d.connection) checkSocket(d.connection);
    if (d.connection && lastSocketId) {
      var url = new URL(d.connection.url, location.href);
      url.searchParams.set('after', lastSocketId);
      d.connection.url = url.toString();
    }
    if (d.code === 1008) {
      setState('offline');
      notify('The room refused this connection; the reason is shown by the message form.');
      return;
    }
    setState(d.reason === 'removed' ? 'offline' : 'reconnecting');
  });
  // A typing signal says only that: hx-ws would send the whole form with it,
  // draft included. And a throttled signal that fires after the message was
  // sent, with no keystroke since, would bring "… is typing" back. The
  // keystroke is noted in the capture phase, before htmx's own listener on
  // the field sends the signal: noted after it, the first keystroke's signal
  // was taken for a stale one and dropped, and "… is typing" waited for the
  // throttle's second signal, a second later, or never came for one key.
  var typedSinceSent = false;
  document.addEventListener('input', function (e) {
    if (e.target instanceof Element && e.target.closest('#' + BEACON.chatForm)) typedSinceSent = true;
  }, true);
  document.addEventListener('htmx:ws:before:message:outgoing', function (e) {
    var values = e.detail.message.values || {};
    if (values.type === 'typing') {
      delete values.content;
      if (!typedSinceSent) e.detail.cancelled = true;
    } else if (values.type === 'chat') {
      typedSinceSent = false;
    }
  });

  // The server sends the message form back empty; keep typing in it.
  document.addEventListener('htmx:after:swap', function () {
    var form = byId(BEACON.chatForm);
    var field = form && form.querySelector('[autofocus]');
    if (field && document.activeElement !== field &&
        (document.activeElement === document.body || !document.activeElement)) field.focus();
  });

  // (6) Stale values. While the connection is not live (after it was, or
  // once it is refused or offline), what the page shows is as of the moment
  // it went down: every live panel says "Stale since 12:03" and is dimmed,
  // until the connection is back. It follows the indicator, whatever sets it.
  var loadedAt = Date.now(), downSince = 0, stale = false;
  function markStale(on) {
    stale = on;
    document.querySelectorAll(BEACON.livePanels).forEach(function (panel) {
      var mark = panel.querySelector(':scope > .' + BEACON.staleMark);
      if (!on) {
        panel.removeAttribute('data-stale');
        if (mark) mark.remove();
        return;
      }
      panel.setAttribute('data-stale', '');
      if (mark) return;
      mark = document.createElement('p');
      mark.className = BEACON.staleMark;
      var when = document.createElement('time');
      when.dateTime = new Date(downSince || loadedAt).toISOString();
      when.setAttribute('data-format', BEACON.formatClock); // beacon-paint.js words it
      mark.append('Stale since ', when);
      var heading = panel.querySelector(':scope > h1, :scope > h2, :scope > .panel-head');
      if (heading) heading.after(mark);
      else panel.prepend(mark);
    });
  }
  function followIndicator(el) {
    var state = el.dataset.state;
    if (state === 'live') {
      downSince = 0;
      if (stale) markStale(false);
      return;
    }
    if (state === 'connecting') return; // not yet live: what the page shows is as fresh as it gets
    if (!downSince) downSince = wasLive ? Date.now() : loadedAt;
    markStale(true);
  }
  // A panel swapped in while the page is down (a room's list after a
  // refusal) is stale too.
  document.addEventListener('htmx:after:swap', function () { if (stale) markStale(true); });

  // (7) Copy buttons: the clipboard when the page may write it; else the
  // text is selected, for the reader to copy.
  function say(button, text) {
    var status = button.parentElement && button.parentElement.querySelector('.copy-status');
    if (status) status.textContent = text;
  }
  function selectText(el) {
    if (typeof el.select === 'function') { el.focus(); el.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  function fallbackCopy(button, el) {
    selectText(el);
    var copied = false;
    try { copied = document.execCommand('copy'); } catch (err) { /* not allowed: the text stays selected */ }
    say(button, copied ? 'Copied.' : 'Selected: press Ctrl+C (⌘C) to copy.');
  }
  document.addEventListener('click', function (e) {
    var button = e.target instanceof Element && e.target.closest('button[data-copy]');
    var el = button && byId(button.getAttribute('data-copy'));
    if (!el) return;
    var text = 'value' in el ? el.value : el.textContent;
    if (!navigator.clipboard || !window.isSecureContext) { fallbackCopy(button, el); return; }
    navigator.clipboard.writeText(text).then(function () { say(button, 'Copied.'); },
      function () { fallbackCopy(button, el); });
  });
  function showCopyButtons() {
    document.querySelectorAll('button[data-copy][hidden]').forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener('htmx:after:swap', showCopyButtons);
  showCopyButtons();

  // A page without live content has nothing to indicate.
  var indicator = byId(BEACON.indicator);
  if (indicator) {
    indicator.hidden = !byId(BEACON.live) && !byId(BEACON.socket);
    new MutationObserver(function () { followIndicator(indicator); })
      .observe(indicator, { attributes: true, attributeFilter: ['data-state'] });
    followIndicator(indicator);
  }
})();
