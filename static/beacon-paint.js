// beacon-paint.js: what Beacon's pages do to an element before the browser
// first paints it, whether the parser put it there or a live swap did:
//
//   (1) every <time>, and every time on a chart, shows its instant in the
//       viewer's zone and language;
//   (2) a room's message list follows the conversation;
//   (3) the typing line leaves out the viewer's own name.
//
// It is the page's one synchronous script in <head>, after the stylesheets
// (small, and cached like the other static files): its MutationObserver is
// watching before the body is parsed, and an observer's callback runs before
// the browser's next rendering step, so nothing is painted the way the server
// wrote it for pages that run no script. No inline code (strict CSP); text
// only, never HTML.
(function () {
  'use strict';

  // These mirror views/ids.go: change both together.
  var BEACON = {
    messages: 'messages',          // views.IDMessages
    newMessages: 'new-messages',   // views.IDNewMessages
    typing: 'typing',              // views.IDTyping
    chatForm: 'chat-form',         // views.IDChatForm
    viewer: 'data-viewer',         // views.AttrViewer
    typingList: 'data-typing',     // views.AttrTyping
    formatSeconds: 'seconds',      // views.TimeFormatSeconds
    formatClock: 'clock',          // views.TimeFormatClock
    formatDay: 'day'               // views.TimeFormatDay
  };

  // (1) Times. A <time datetime> without a data-format reads "now" or
  // "3 min ago" / "in 5 min" within the hour, its clock time on the same
  // day, else its date (with the year when it is not this year's); its
  // tooltip is the whole date and time. Texts change as time passes: one
  // timer, set for the next moment any of them changes.
  var MINUTE = 60000, HOUR = 60 * MINUTE;
  var format = {
    clock: new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' }),
    seconds: new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' }),
    date: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' }),
    dateYear: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' }),
    full: new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' }),
    relative: new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' })
  };

  function dayOf(ms) { var d = new Date(ms); return d.getFullYear() * 400 + d.getMonth() * 32 + d.getDate(); }
  function nextMidnight(ms) { var d = new Date(ms); return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime(); }

  // shown returns the text of instant at, now, by the rules of data-format
  // style, and the moment that text changes next.
  function shown(at, style, now) {
    if (style === BEACON.formatSeconds) return { text: format.seconds.format(at), next: Infinity };
    if (style === BEACON.formatClock) return { text: format.clock.format(at), next: Infinity };
    var ago = now - at;
    if (Math.abs(ago) < HOUR) {
      var minutes = Math.trunc(ago / MINUTE);
      if (minutes === 0) return { text: format.relative.format(0, 'second'), next: at + MINUTE };
      // Past: until a minute more has passed. Future: until a minute less is left.
      var next = minutes > 0 ? at + (minutes + 1) * MINUTE : at + minutes * MINUTE + 1;
      return { text: format.relative.format(-minutes, 'minute'), next: next };
    }
    var midnight = nextMidnight(now);
    var soon = ago < 0 ? Math.min(midnight, at - HOUR + 1) : midnight;
    if (dayOf(at) === dayOf(now)) return { text: format.clock.format(at), next: soon };
    var sameYear = new Date(at).getFullYear() === new Date(now).getFullYear();
    return { text: (sameYear ? format.date : format.dateYear).format(at), next: soon };
  }

  // paintTime shows el in the viewer's zone and returns when it changes next.
  function paintTime(el, now) {
    var at = Date.parse(el.getAttribute('datetime'));
    if (isNaN(at)) return Infinity;
    var s = shown(at, el.getAttribute('data-format'), now);
    if (el.textContent !== s.text) el.textContent = s.text;
    var full = format.full.format(at);
    if (el.title !== full) el.title = full;
    return s.next;
  }

  // Charts are drawn once for every viewer, in UTC, and shown here in the
  // viewer's zone, 24-hour like the server's (views/ids.go says how): a
  // time tick carries its instant (data-at) and data-format; a column's
  // hover text starts with its UTC clock time, dated from its plot's
  // data-end, and keeps what follows; the zone label (data-zone) names the
  // zone.
  var axis = {
    seconds: new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }),
    clock: new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  };
  var zoneName = (function () {
    try {
      var part = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(new Date())
        .find(function (p) { return p.type === 'timeZoneName'; });
      return part ? part.value : '';
    } catch (e) { return ''; }
  })();
  var CHART = '[data-at], [data-zone], svg[data-end] title';
  var UTC_CLOCK = /^(\d\d):(\d\d)(?::(\d\d))?( · )/;
  function paintAt(el) {
    var at = Date.parse(el.getAttribute('data-at'));
    if (isNaN(at)) return;
    var style = el.getAttribute('data-format'), text;
    if (style === BEACON.formatSeconds) text = axis.seconds.format(at);
    else if (style === BEACON.formatDay) {
      var d = new Date(at);
      text = d.getHours() === 0 && d.getMinutes() === 0 ? format.date.format(at) : axis.clock.format(at);
    } else text = axis.clock.format(at);
    if (el.textContent !== text) el.textContent = text;
  }
  function paintHover(el) {
    if (el.hasAttribute('data-local')) return; // painted already: its text is no longer UTC
    var end = Date.parse(el.closest('svg[data-end]').getAttribute('data-end'));
    var m = UTC_CLOCK.exec(el.textContent);
    if (isNaN(end) || !m) return; // the parser has not written its text yet
    var e = new Date(end);
    var at = Date.UTC(e.getUTCFullYear(), e.getUTCMonth(), e.getUTCDate(), +m[1], +m[2], +(m[3] || 0));
    if (at > end) at -= 24 * HOUR; // before the chart's end: yesterday's
    el.setAttribute('data-local', '');
    el.textContent = (m[3] ? axis.seconds : axis.clock).format(at) + el.textContent.slice(m[0].length - m[4].length);
  }
  function paintChartPart(el) {
    if (el.hasAttribute('data-at')) paintAt(el);
    else if (el.hasAttribute('data-zone')) { if (zoneName && el.textContent !== zoneName) el.textContent = zoneName; }
    else paintHover(el);
  }
  function paintChart(el) { // el and everything in it
    if (el.matches(CHART)) paintChartPart(el);
    else if (el.firstElementChild) el.querySelectorAll(CHART).forEach(paintChartPart);
  }

  var timer = 0, due = Infinity;
  function schedule(next) {
    if (next >= due) return;
    due = next;
    clearTimeout(timer);
    // A little after the moment, so the new text is the next one; at least
    // hourly, in case the clock or the zone changed meanwhile.
    timer = setTimeout(refresh, Math.min(Math.max(next - Date.now(), 0) + 50, HOUR));
  }
  function refresh() {
    timer = 0;
    due = Infinity;
    var now = Date.now(), next = Infinity;
    document.querySelectorAll('time[datetime]').forEach(function (el) { next = Math.min(next, paintTime(el, now)); });
    schedule(next);
  }
  // A hidden tab's timers are slowed down: bring it up to date when shown.
  document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
  window.addEventListener('pageshow', refresh);

  // (2) The message list follows the conversation: it opens at the newest
  // message and stays at the bottom while the reader is there; a reader who
  // has scrolled up is not moved, and the "New messages" button appears
  // instead (its slot is a polite live region), which takes them down.
  var NEAR = 32; // px from the bottom that still count as at the bottom: about a line
  var pinned = true;

  var byId = function (id) { return document.getElementById(id); };
  function atBottom(list) { return list.scrollHeight - list.scrollTop - list.clientHeight <= NEAR; }
  function toBottom(list) { list.scrollTop = list.scrollHeight; }
  function showMarker(show) {
    var m = byId(BEACON.newMessages);
    if (m && m.hidden === show) m.hidden = !show;
  }
  // grew: the list (or a new list, after a resync) got messages.
  function grew(list) {
    if (pinned) toBottom(list);
    else showMarker(true);
  }
  function jumpDown() {
    var list = byId(BEACON.messages);
    pinned = true;
    showMarker(false);
    if (list) toBottom(list);
  }

  document.addEventListener('scroll', function (e) {
    var list = e.target;
    if (!(list instanceof Element) || list.id !== BEACON.messages) return;
    pinned = atBottom(list);
    if (pinned) showMarker(false);
  }, true); // scroll events do not bubble
  document.addEventListener('click', function (e) {
    var marker = e.target instanceof Element && e.target.closest('#' + BEACON.newMessages);
    if (!marker) return;
    jumpDown();
    var list = byId(BEACON.messages);
    if (list) list.focus({ preventScroll: true }); // the button hides: keep the focus nearby
  });
  // Your own message takes you to the bottom, where it will appear.
  document.addEventListener('submit', function (e) {
    if (e.target instanceof Element && e.target.id === BEACON.chatForm) jumpDown();
  }, true);
  // A new size (a turned phone, a resized window) keeps a pinned list at the
  // bottom; so do late fonts, measured once the page has loaded.
  function keepPinned() {
    var list = byId(BEACON.messages);
    if (list && pinned) toBottom(list);
  }
  window.addEventListener('resize', keepPinned);
  window.addEventListener('load', keepPinned);

  // (3) The typing line is rendered once for the whole room; the viewer's
  // page words it again without the viewer, by views.TypingLine's rules.
  function typingWords(names) {
    var bdi = function (name) { var b = document.createElement('bdi'); b.textContent = name; return b; };
    switch (names.length) {
      case 0: return [];
      case 1: return [bdi(names[0]), ' is typing…'];
      case 2: return [bdi(names[0]), ' and ', bdi(names[1]), ' are typing…'];
      default: return [bdi(names[0]), ', ', bdi(names[1]), ' and ' + (names.length - 2) + ' more are typing…'];
    }
  }
  function paintTyping(el) {
    var panel = el.closest('[' + BEACON.viewer + ']');
    var me = panel && panel.getAttribute(BEACON.viewer);
    var names;
    try { names = JSON.parse(el.getAttribute(BEACON.typingList) || '[]'); } catch (err) { return; }
    if (!me || !Array.isArray(names) || names.indexOf(me) < 0) return;
    var words = typingWords(names.filter(function (n) { return n !== me; }));
    var text = words.map(function (w) { return typeof w === 'string' ? w : w.textContent; }).join('');
    if (el.textContent !== text) el.replaceChildren.apply(el, words); // once: the change is observed too
  }

  // The observer: every element added (by the parser or a swap), and every
  // text written into one (the parser may add an element's text later than
  // the element), before it is painted.
  function added(el, now) {
    var next = Infinity;
    if (el.matches('time[datetime]')) next = paintTime(el, now);
    else if (el.firstElementChild) {
      el.querySelectorAll('time[datetime]').forEach(function (t) { next = Math.min(next, paintTime(t, now)); });
    }
    paintChart(el);
    var typing = el.id === BEACON.typing ? el : el.firstElementChild && el.querySelector('#' + BEACON.typing);
    if (typing) paintTyping(typing);
    var list = el.id === BEACON.messages ? el : el.firstElementChild && el.querySelector('#' + BEACON.messages);
    if (list) grew(list);
    return next;
  }
  new MutationObserver(function (records) {
    var now = Date.now(), next = Infinity;
    var list = null, more = false; // the message list, if anything in it changed; new messages
    records.forEach(function (r) {
      var target = r.target.nodeType === Node.ELEMENT_NODE ? r.target : r.target.parentElement;
      if (!target) return;
      r.addedNodes.forEach(function (n) {
        if (n.nodeType !== Node.ELEMENT_NODE) return;
        next = Math.min(next, added(n, now));
        if (n.tagName === 'LI' && target.id === BEACON.messages) more = true;
      });
      if (target.matches('time[datetime]')) next = Math.min(next, paintTime(target, now));
      else if (target.matches(CHART)) paintChartPart(target);
      else {
        var typing = target.closest('#' + BEACON.typing);
        if (typing) paintTyping(typing);
      }
      list = list || target.closest('#' + BEACON.messages);
    });
    // Whatever changed in the list (a message, the rest of one the parser
    // had not reached, a time's new text) moves its bottom.
    if (list && list.isConnected && (pinned || more)) grew(list);
    schedule(next);
  }).observe(document, { childList: true, subtree: true, characterData: true });
})();
