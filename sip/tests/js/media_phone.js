// A WebRTC phone for the media tests (sip/tests/test_media.py): JsSIP (build/jssip.js, loaded
// first) in Chromium, whose microphone is Chromium's fake capture device playing a tone file.
// It registers with the login info the dashboard reveals, calls or answers, and measures what it
// hears: the remote audio track through a WebAudio analyser (dominant frequency) and getStats
// (codec, packets). Everything a test needs is on window.mediaPhone.
window.mediaPhone = (() => {
  const state = { ua: null, session: null, remoteSdps: [], events: [] };
  // The tone as it is: no echo cancellation, noise suppression or gain control reshaping it.
  const audioOnly = {
    mediaConstraints: {
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      video: false,
    },
    pcConfig: { iceServers: [] },
  };

  // A WebRTC phone that speaks Opus only (no G.711 in its offers or answers): the relay has
  // to transcode for a G.711-only softphone. Chromium negotiates only what
  // setCodecPreferences allows, so what it sends and expects is Opus, not just its SDP text.
  function preferOpusOnly() {
    const opus = RTCRtpReceiver.getCapabilities('audio').codecs.filter(
      (c) => c.mimeType.toLowerCase() === 'audio/opus'
    );
    const restrict = (pc) => {
      for (const transceiver of pc.getTransceivers()) {
        if (transceiver.receiver.track && transceiver.receiver.track.kind === 'audio') {
          transceiver.setCodecPreferences(opus);
        }
      }
    };
    for (const name of ['createOffer', 'createAnswer']) {
      const original = RTCPeerConnection.prototype[name];
      RTCPeerConnection.prototype[name] = function (...args) {
        restrict(this);
        return original.apply(this, args);
      };
    }
  }

  function watch(session) {
    state.session = session;
    session.on('sdp', (e) => {
      if (e.originator === 'remote') state.remoteSdps.push(e.sdp);
    });
    session.on('confirmed', () => state.events.push('confirmed'));
    session.on('ended', (e) => state.events.push(`ended: ${e.cause}`));
    session.on('failed', (e) => {
      const status = e.message && e.message.status_code ? ` ${e.message.status_code}` : '';
      state.events.push(`failed: ${e.cause}${status}`);
    });
  }

  async function start(info, options = {}) {
    if (options.opusOnly) preferOpusOnly();
    const socket = new JsSIP.WebSocketInterface(info.websocket_url);
    const ua = new JsSIP.UA({
      sockets: [socket],
      uri: info.sip_uri,
      authorization_user: info.username,
      password: info.password,
      display_name: info.display_name,
      register: true,
      register_expires: 300,
      session_timers: false,
      connection_recovery_min_interval: 60,
    });
    state.ua = ua;
    ua.on('newRTCSession', (e) => {
      watch(e.session);
      if (e.originator === 'remote' && options.autoAnswer) e.session.answer(audioOnly);
    });
    return await new Promise((resolve) => {
      ua.on('registered', () => resolve('registered'));
      ua.on('registrationFailed', (e) => resolve(`failed: ${e.cause}`));
      setTimeout(() => resolve('timeout'), 10000);
      ua.start();
    });
  }

  function call(target) {
    watch(state.ua.call(target, audioOnly));
  }

  // Until an event starting with one of `prefixes` (e.g. ['confirmed', 'failed']), or 'timeout'.
  async function waitFor(prefixes, seconds = 15) {
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      const found = state.events.find((e) => prefixes.some((p) => e.startsWith(p)));
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    return `timeout; events: ${state.events.join(', ')}`;
  }

  // The loudest frequency in the remote audio over `seconds`, its share of the power heard
  // (a pure tone: close to 1) and its level in dBFS.
  async function listen(seconds = 2) {
    const pc = state.session.connection;
    const receiver = pc.getReceivers().find((r) => r.track && r.track.kind === 'audio');
    return window.listenTo(new MediaStream([receiver.track]), seconds);
  }

  // What getStats says about the audio: codecs received and sent, packets each way.
  async function stats() {
    const report = await state.session.connection.getStats();
    const out = {};
    const codecs = {};
    report.forEach((s) => {
      if (s.type === 'codec') codecs[s.id] = s.mimeType;
    });
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.inboundCodec = codecs[s.codecId];
        out.packetsReceived = s.packetsReceived;
        out.totalAudioEnergy = s.totalAudioEnergy;
        out.inbound = s;
      }
      if (s.type === 'transport') {
        out.dtlsState = s.dtlsState;
        out.iceState = s.iceState;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out.outboundCodec = codecs[s.codecId];
        out.packetsSent = s.packetsSent;
      }
    });
    return out;
  }

  function hangup() {
    if (state.session && !state.session.isEnded()) state.session.terminate();
  }

  // Hang up and unregister (so the next test does not ring a closed page), then disconnect.
  async function stop() {
    hangup();
    const ua = state.ua;
    if (!ua) return 'no phone';
    const done = ua.isRegistered()
      ? await new Promise((resolve) => {
          ua.on('unregistered', () => resolve('unregistered'));
          setTimeout(() => resolve('timeout'), 3000);
          ua.unregister();
        })
      : 'not registered';
    ua.stop();
    return done;
  }

  return { start, call, waitFor, listen, stats, hangup, stop, state };
})();
