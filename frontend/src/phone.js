// The web phone ("Điện thoại", /phone/): JsSIP registered on the signed-in user's own extension.
//
// It signs in with short-lived credentials the dashboard issues (POST …/credentials/, valid at
// most 12 hours, checked by Kamailio's auth_ephemeral), never with the stored SIP password, and
// fetches new ones before they expire or when the SIP server refuses them. JsSIP reconnects a
// lost WebSocket by itself (and registers again); the page says what is going on. Loaded as a
// file: the dashboard's Content Security Policy allows no inline script.
import JsSIP from 'jssip';

const config = JSON.parse(document.getElementById('phone-config').textContent);
const $ = (id) => document.getElementById(id);
const ui = {
  registration: $('phone-registration'),
  dot: $('phone-registration-dot'),
  error: $('phone-error'),
  number: $('phone-number'),
  pad: $('phone-pad'),
  call: $('phone-call'),
  hangup: $('phone-hangup'),
  incoming: $('phone-incoming'),
  incomingCaller: $('phone-incoming-caller'),
  answer: $('phone-answer'),
  decline: $('phone-decline'),
  callStatus: $('phone-call-status'),
  timer: $('phone-timer'),
  controls: $('phone-in-call'),
  mute: $('phone-mute'),
  hold: $('phone-hold'),
  remoteAudio: $('phone-remote-audio'),
};

// "Calling %(number)s…" with {number: '102'}: the server's translations, filled in here.
function t(key, params = {}) {
  return (config.messages[key] || key).replace(/%\((\w+)\)s/g, (_, name) => String(params[name] ?? ''));
}

function show(element, visible) {
  element.classList.toggle('d-none', !visible);
}

function showError(text) {
  ui.error.textContent = text || '';
  show(ui.error, Boolean(text));
}

function setRegistration(text, state) {
  ui.registration.textContent = text;
  ui.dot.dataset.state = state;
  document.body.dataset.phoneRegistration = state;
}

// --- tones: made with WebAudio, no audio file -----------------------------------------------

const tones = (() => {
  let context = null;
  let timer = null;
  let nodes = [];

  function audioContext() {
    if (!context) context = new AudioContext();
    if (context.state === 'suspended') context.resume().catch(() => {});
    return context;
  }

  // One burst of `frequencies` (Hz) from `start` for `length` seconds, with soft edges.
  function burst(frequencies, start, length, level) {
    const ctx = audioContext();
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(level, start + 0.02);
    gain.gain.setValueAtTime(level, start + length - 0.02);
    gain.gain.linearRampToValueAtTime(0, start + length);
    gain.connect(ctx.destination);
    for (const frequency of frequencies) {
      const oscillator = ctx.createOscillator();
      oscillator.frequency.value = frequency;
      oscillator.connect(gain);
      oscillator.start(start);
      oscillator.stop(start + length);
      oscillator.onended = () => {
        gain.disconnect();
        nodes = nodes.filter((node) => node !== oscillator);
      };
      nodes.push(oscillator);
    }
  }

  // A pattern repeated every `period` seconds: [[offset, length], …].
  function play(name, frequencies, pattern, period, level) {
    stop();
    document.body.dataset.phoneTone = name;
    const cycle = () => {
      const now = audioContext().currentTime + 0.05;
      for (const [offset, length] of pattern) burst(frequencies, now + offset, length, level);
    };
    cycle();
    timer = setInterval(cycle, period * 1000);
  }

  function stop() {
    delete document.body.dataset.phoneTone;
    if (timer) clearInterval(timer);
    timer = null;
    for (const oscillator of nodes) {
      try {
        oscillator.stop();
        oscillator.disconnect();
      } catch (_) {
        // not started yet, or already stopped
      }
    }
    nodes = [];
  }

  return {
    // An incoming call: two short double-tone rings, then a pause.
    ring: () => play('ring', [440, 480], [[0, 0.4], [0.6, 0.4]], 3, 0.2),
    // Our call is ringing at the other end (Vietnam's ringback: 425 Hz, 1 s on, 4 s off).
    ringback: () => play('ringback', [425], [[0, 1]], 5, 0.12),
    stop,
    // Browsers start audio only after the user touched the page: unlock on the first touch.
    unlock: () => audioContext(),
  };
})();

for (const kind of ['pointerdown', 'keydown']) {
  document.addEventListener(kind, () => tones.unlock(), { once: true, capture: true });
}

// --- credentials --------------------------------------------------------------------------

function csrfToken() {
  const input = document.querySelector('input[name=csrfmiddlewaretoken]');
  return input ? input.value : '';
}

class Refused extends Error {}

// New credentials from the dashboard; a Refused error when it says no (session gone, extension
// disabled or unlinked): retrying would not help.
async function fetchCredentials() {
  const response = await fetch(config.credentialsUrl, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRFToken': csrfToken(), Accept: 'application/json' },
  });
  let body = {};
  try {
    body = await response.json();
  } catch (_) {
    // not JSON: a sign-in page or an error page
  }
  if (response.ok && body.username) return body;
  if (response.status === 401 || response.redirected || (response.status === 403 && !body.detail)) {
    throw new Refused(t('signedOut'));
  }
  if (response.status >= 400 && response.status < 500) throw new Refused(body.detail || t('signedOut'));
  throw new Error(`HTTP ${response.status}`);
}

// --- the SIP user agent -------------------------------------------------------------------

let ua = null;
let login = null; // the current credentials (and the extension's address)
let refreshTimer = null;
let failures = 0;
let everConnected = false;

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const left = new Date(login.expires_at).getTime() - Date.now();
  // Well before they expire: at 80 % of their life, at least a minute from now.
  const wait = Math.max(60 * 1000, left * 0.8);
  refreshTimer = setTimeout(() => refreshCredentials(), Math.min(wait, 2 ** 31 - 1));
}

async function refreshCredentials({ registerNow = false } = {}) {
  try {
    login = await fetchCredentials();
  } catch (error) {
    if (error instanceof Refused) {
      stopPhone(error.message);
      return false;
    }
    setRegistration(t('credentialsFailed'), 'error');
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refreshCredentials({ registerNow }), backoff());
    return false;
  }
  ua.set('authorization_user', login.username);
  ua.set('password', login.password);
  scheduleRefresh();
  if (registerNow) ua.register();
  return true;
}

// Seconds to wait after the n-th failure in a row: 2, 4, 8 … at most 60.
function backoff() {
  failures += 1;
  return Math.min(60, 2 ** failures) * 1000;
}

function stopPhone(message) {
  clearTimeout(refreshTimer);
  if (ua) ua.stop();
  ua = null;
  setRegistration(t('unregistered'), 'error');
  showError(message);
  ui.call.disabled = true;
}

async function startPhone() {
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setRegistration(t('unregistered'), 'error');
    showError(t('insecure'));
    ui.call.disabled = true;
    return;
  }
  if (!window.RTCPeerConnection) {
    setRegistration(t('unregistered'), 'error');
    showError(t('noWebRTC'));
    ui.call.disabled = true;
    return;
  }
  setRegistration(t('connecting'), 'connecting');
  try {
    login = await fetchCredentials();
  } catch (error) {
    if (error instanceof Refused) {
      stopPhone(error.message);
    } else {
      setRegistration(t('credentialsFailed'), 'error');
      setTimeout(startPhone, backoff());
    }
    return;
  }
  failures = 0;
  ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(login.websocket_url)],
    uri: login.sip_uri,
    authorization_user: login.username,
    password: login.password,
    display_name: login.display_name,
    register: true,
    register_expires: 300,
    session_timers: false,
    user_agent: `PBX web phone (JsSIP ${JsSIP.version})`,
    // A lost connection is retried after 2 s, then up to every 30 s.
    connection_recovery_min_interval: 2,
    connection_recovery_max_interval: 30,
  });
  ua.on('connecting', () => {
    if (everConnected) setRegistration(t('reconnecting'), 'connecting');
  });
  ua.on('connected', () => {
    everConnected = true;
    showError('');
  });
  ua.on('disconnected', () => {
    setRegistration(navigator.onLine === false ? t('offline') : t('reconnecting'), 'error');
  });
  ua.on('registered', () => {
    failures = 0;
    showError('');
    setRegistration(t('registered', { number: config.number }), 'registered');
    ui.call.disabled = false;
  });
  // A lost connection unregisters too: keep saying why (it reconnects and registers again).
  ua.on('unregistered', () => {
    if (ua && ua.isConnected()) setRegistration(t('unregistered'), 'error');
  });
  ua.on('registrationFailed', (e) => {
    const status = e.response ? ` ${e.response.status_code}` : '';
    setRegistration(t('registrationFailed', { cause: `${e.cause}${status}` }), 'error');
    // Refused (expired, extension disabled): ask the dashboard again, which says why if it
    // refuses too; anything else (timeout, connection): JsSIP retries with the connection.
    if (e.cause === JsSIP.C.causes.REJECTED || e.cause === JsSIP.C.causes.AUTHENTICATION_ERROR) {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => refreshCredentials({ registerNow: true }), backoff());
    }
  });
  ua.on('newRTCSession', (e) => onNewSession(e.session, e.originator));
  scheduleRefresh();
  ua.start();
}

window.addEventListener('offline', () => setRegistration(t('offline'), 'error'));
window.addEventListener('online', () => {
  if (ua && !ua.isConnected()) setRegistration(t('reconnecting'), 'connecting');
});
// Leaving the page signs the phone out at once (the server also notices the closed connection).
window.addEventListener('pagehide', () => {
  if (ua) ua.stop();
});

// --- the microphone -----------------------------------------------------------------------

async function microphone() {
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
  } catch (error) {
    const name = error && error.name;
    if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
      throw new Error(t('micDenied'));
    }
    if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
      throw new Error(t('micMissing'));
    }
    if (name === 'NotReadableError' || name === 'AbortError' || name === 'TrackStartError') {
      throw new Error(t('micBusy'));
    }
    throw new Error(t('micFailed', { cause: name || String(error) }));
  }
}

// --- calls --------------------------------------------------------------------------------

let session = null;
let localStream = null;
let peer = ''; // the other party's number, for the messages
let answeredAt = null;
let timerInterval = null;

// The TURN servers come with the credentials (login.ice_servers: a credential that expires with
// the SIP one, refreshed with it), so each call uses the latest; none configured: none.
// iceTransportPolicy "relay" (a setting, for diagnosing TURN) sends every call through TURN.
const rtcOptions = () => ({
  mediaStream: localStream,
  pcConfig: {
    iceServers: (login && login.ice_servers) || [],
    iceTransportPolicy: config.iceTransportPolicy || 'all',
  },
  rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
});

// JsSIP sends the SDP once the browser has gathered every ICE candidate. A TURN server that
// never answers (a firewall dropping turns:) would hold the call up for the browser's own timeout
// (40 s in Chromium): once a relay candidate is in, the others get 1.5 s more; with none, the
// first candidate of any kind starts a 5 s limit.
const ICE_AFTER_RELAY_MS = 1500;
const ICE_AFTER_FIRST_MS = 5000;

function boundIceGathering(current) {
  let gathering = null; // the `ready` of the gathering under way (one per offer or answer)
  let timer = null;
  let relayed = false;
  current.on('icecandidate', (e) => {
    if (e.ready !== gathering) {
      gathering = e.ready;
      relayed = false;
      clearTimeout(timer);
      timer = setTimeout(e.ready, ICE_AFTER_FIRST_MS);
    }
    if (!relayed && e.candidate.type === 'relay') {
      relayed = true;
      clearTimeout(timer);
      timer = setTimeout(e.ready, ICE_AFTER_RELAY_MS);
    }
  });
  current.on('sdp', (e) => {
    if (e.originator === 'local') clearTimeout(timer);
  });
}

function formatDuration(ms) {
  const seconds = Math.floor(ms / 1000);
  const hh = Math.floor(seconds / 3600);
  const mm = String(Math.floor((seconds % 3600) / 60)).padStart(2, '0');
  const ss = String(seconds % 60).padStart(2, '0');
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

function startTimer() {
  answeredAt = Date.now();
  ui.timer.textContent = '00:00';
  show(ui.timer, true);
  timerInterval = setInterval(() => {
    ui.timer.textContent = formatDuration(Date.now() - answeredAt);
  }, 1000);
}

function playRemote() {
  if (!session || !session.connection) return;
  const tracks = session.connection
    .getReceivers()
    .map((receiver) => receiver.track)
    .filter((track) => track && track.kind === 'audio');
  if (!tracks.length) return;
  ui.remoteAudio.srcObject = new MediaStream(tracks);
  ui.remoteAudio.play().catch(() => {});
}

function setCallView(state) {
  // idle | outgoing | incoming | active
  show(ui.call, state === 'idle');
  show(ui.hangup, state === 'outgoing' || state === 'active');
  show(ui.incoming, state === 'incoming');
  show(ui.controls, state === 'active');
  ui.number.readOnly = state !== 'idle';
  if (state !== 'active') {
    setPressed(ui.mute, false);
    setPressed(ui.hold, false);
  }
}

function setPressed(button, pressed) {
  button.setAttribute('aria-pressed', pressed ? 'true' : 'false');
  button.classList.toggle('active', pressed);
}

function endReason(e) {
  const causes = JsSIP.C.causes;
  const status = e.message && e.message.status_code;
  if (status === 403) return t('forbidden');
  switch (e.cause) {
    case causes.BUSY:
      return t('busy');
    case causes.UNAVAILABLE:
      return t('unavailable');
    case causes.NOT_FOUND:
      return t('notFound');
    case causes.REJECTED:
      return t('rejected');
    case causes.NO_ANSWER:
    case causes.EXPIRES:
      return t('noAnswer');
    case causes.USER_DENIED_MEDIA_ACCESS:
      return t('micDenied');
    default:
      return t('failed', { cause: status ? `${e.cause} (${status})` : e.cause });
  }
}

function finishCall(message) {
  tones.stop();
  clearInterval(timerInterval);
  timerInterval = null;
  if (localStream) localStream.getTracks().forEach((track) => track.stop());
  localStream = null;
  ui.remoteAudio.srcObject = null;
  session = null;
  ui.callStatus.textContent = message;
  setCallView('idle');
}

function onNewSession(newSession, originator) {
  if (originator === 'remote' && session) {
    newSession.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
    return;
  }
  session = newSession;
  const current = newSession;
  boundIceGathering(current);
  peer = originator === 'remote' ? current.remote_identity.uri.user : peer;
  current.on('peerconnection', (e) => {
    e.peerconnection.addEventListener('track', () => playRemote());
  });
  if (current.connection) current.connection.addEventListener('track', () => playRemote());
  current.on('progress', (e) => {
    if (originator !== 'local') return;
    ui.callStatus.textContent = t('ringing', { number: peer });
    // Early media (183 with SDP) is heard as it is; otherwise our own ringback.
    if (!(e.response && e.response.body)) tones.ringback();
    else tones.stop();
  });
  current.on('accepted', () => {
    tones.stop();
    playRemote();
    ui.callStatus.textContent = t('inCall', { number: peer });
    setCallView('active');
    startTimer();
  });
  current.on('confirmed', () => playRemote());
  current.on('hold', () => {
    setPressed(ui.hold, true);
    ui.callStatus.textContent = t('onHold', { number: peer });
  });
  current.on('unhold', () => {
    setPressed(ui.hold, false);
    ui.callStatus.textContent = t('inCall', { number: peer });
  });
  current.on('muted', () => setPressed(ui.mute, true));
  current.on('unmuted', () => setPressed(ui.mute, false));
  current.on('ended', () => {
    if (session === current) finishCall(t('ended'));
  });
  current.on('failed', (e) => {
    if (session !== current) return;
    finishCall(originator === 'remote' && e.originator === 'remote' ? t('ended') : endReason(e));
  });
  if (originator === 'remote') {
    ui.incomingCaller.textContent = t('incoming', { number: peer });
    ui.callStatus.textContent = '';
    setCallView('incoming');
    tones.ring();
  }
}

async function placeCall() {
  showError('');
  const number = ui.number.value.replace(/[\s.()-]/g, '');
  if (!number) {
    ui.callStatus.textContent = t('emptyNumber');
    ui.number.focus();
    return;
  }
  if (!/^[+]?[0-9*#]+$/.test(number) || !ua || session) return;
  try {
    localStream = await microphone();
  } catch (error) {
    showError(error.message);
    return;
  }
  peer = number;
  ui.callStatus.textContent = t('calling', { number });
  setCallView('outgoing');
  try {
    ua.call(`sip:${number}@${login.domain}`, rtcOptions());
  } catch (error) {
    finishCall(t('failed', { cause: error.message }));
  }
}

async function answerCall() {
  if (!session) return;
  const incoming = session;
  tones.stop();
  showError('');
  try {
    localStream = await microphone();
  } catch (error) {
    showError(error.message);
    return;
  }
  if (session !== incoming) return; // the caller gave up meanwhile
  incoming.answer(rtcOptions());
}

ui.call.addEventListener('click', placeCall);
ui.number.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    e.preventDefault();
    placeCall();
  }
});
ui.answer.addEventListener('click', answerCall);
ui.decline.addEventListener('click', () => {
  if (session) session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
});
ui.hangup.addEventListener('click', () => {
  if (session) session.terminate();
});
ui.mute.addEventListener('click', () => {
  if (!session) return;
  if (session.isMuted().audio) session.unmute({ audio: true });
  else session.mute({ audio: true });
});
ui.hold.addEventListener('click', () => {
  if (!session) return;
  if (session.isOnHold().local) session.unhold();
  else session.hold();
});
// The dial pad types the number, or sends the tone during a call (RFC 4733 events).
ui.pad.addEventListener('click', (e) => {
  const key = e.target.closest('[data-digit]');
  if (!key) return;
  const digit = key.dataset.digit;
  if (session && session.isEstablished()) {
    session.sendDTMF(digit, { transportType: 'RFC2833' });
    return;
  }
  if (!ui.number.readOnly) ui.number.value += digit;
  ui.number.focus();
});
$('phone-backspace').addEventListener('click', () => {
  if (!ui.number.readOnly) ui.number.value = ui.number.value.slice(0, -1);
  ui.number.focus();
});

setCallView('idle');
startPhone();
