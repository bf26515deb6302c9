// What a test phone hears: the loudest frequency in an audio MediaStream over `seconds` (a
// WebAudio analyser), its share of the power heard (a pure tone: close to 1) and its level in
// dBFS. Loaded by media_phone.html (sip/tests/test_media.py) and injected into the dashboard's
// web phone page (sip/tests/test_webphone_browser.py).
window.listenTo = async function listenTo(stream, seconds = 2) {
  // Chromium feeds a remote WebRTC track into WebAudio only while a media element plays it.
  const element = new Audio();
  element.muted = true;
  element.srcObject = stream;
  await element.play().catch(() => {});
  const context = new AudioContext();
  await context.resume();
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0;
  context.createMediaStreamSource(stream).connect(analyser);

  const bins = new Float32Array(analyser.frequencyBinCount);
  const power = new Float64Array(bins.length);
  const end = performance.now() + seconds * 1000;
  let frames = 0;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    analyser.getFloatFrequencyData(bins);
    for (let i = 0; i < bins.length; i++) power[i] += Math.pow(10, bins[i] / 10);
    frames++;
  }
  const hz = context.sampleRate / analyser.fftSize;
  let best = 0;
  let total = 0;
  for (let i = Math.ceil(50 / hz); i < Math.floor(8000 / hz); i++) {
    total += power[i];
    if (i >= 100 / hz && i <= 3400 / hz && power[i] > power[best]) best = i;
  }
  // A windowed sine spreads over a few neighbouring bins.
  let peak = 0;
  for (let i = best - 3; i <= best + 3; i++) peak += power[i] || 0;
  element.srcObject = null;
  await context.close();
  return {
    frequency: best * hz,
    share: total ? peak / total : 0,
    levelDb: 10 * Math.log10(power[best] / Math.max(frames, 1)),
  };
};
