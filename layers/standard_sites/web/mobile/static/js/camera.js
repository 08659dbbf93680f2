// The in-app camera: the back camera's live picture (getUserMedia) in a full-screen sheet with 「拍摄」/「取消」.
// 拍摄 keeps the frame on a canvas; the caller then gets a position for it and encodes it with encodeJpeg(), which
// writes the EXIF a phone's camera would (DateTimeOriginal in Beijing time with OffsetTimeOriginal "+08:00", the
// GPS position, Make/Model) with piexifjs (vendored: static/vendor/piexifjs, see ../../vendor.sh).
//
// Where the browser has no camera API (an old browser, a page not on HTTPS) or the camera is refused or missing,
// the caller falls back to <input type=file capture> — the phone's own camera app — and the user is told why.

const PIEXIF_URL = "/m/static/vendor/piexifjs/piexif.js";
const JPEG_QUALITY = 0.9;
const BEIJING_MS = 8 * 3600 * 1000;
const MAKE = "chengjian";
const MODEL = "Hangzhou ST-Site Web Camera"; // EXIF "ASCII": piexifjs writes one byte per character
const CONSTRAINTS = {
  audio: false,
  video: { facingMode: "environment", width: { ideal: 1920 }, height: { ideal: 1440 } },
};

export class CameraUnavailable extends Error {}

// Why the browser gives no camera: a message for the user, the fallback named.
function explain(error) {
  if (!window.isSecureContext) return "浏览器只允许 HTTPS 页面使用相机，已改用手机自带的相机拍照。";
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "未允许使用相机，已改用手机自带的相机拍照（可在浏览器设置中允许本应用使用相机）。";
    case "NotFoundError":
    case "OverconstrainedError":
      return "没有找到可用的相机，已改用手机自带的相机拍照。";
    case "NotReadableError":
    case "AbortError":
      return "相机正被其他应用占用，已改用手机自带的相机拍照。";
    default:
      return "此浏览器不能直接使用相机，已改用手机自带的相机拍照。";
  }
}

let piexifPromise = null;

// piexifjs is a classic script (it sets window.piexif): loaded once, on the first photo.
function piexif() {
  if (window.piexif) return Promise.resolve(window.piexif);
  if (!piexifPromise) {
    piexifPromise = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = PIEXIF_URL;
      s.onload = () => (window.piexif ? resolve(window.piexif) : reject(new Error("piexifjs did not load")));
      s.onerror = () => reject(new Error("piexifjs did not load"));
      document.head.append(s);
    }).then((px) => {
      // Tags of EXIF 2.31 that piexifjs 1.0.6 does not know yet.
      px.TAGS.Exif[36880] ??= { name: "OffsetTime", type: "Ascii" };
      px.TAGS.Exif[36881] ??= { name: "OffsetTimeOriginal", type: "Ascii" };
      return px;
    });
    piexifPromise.catch(() => { piexifPromise = null; });
  }
  return piexifPromise;
}

class Camera {
  constructor() {
    this.failure = null; // why the in-app camera cannot be used (then: the file input), once found out
    this.stream = null;
    this.pending = null; // {resolve, reject} of the open sheet
  }

  // Whether 拍照 opens the in-app camera (else the phone's own camera app through the file input).
  get usable() {
    return !this.failure && Boolean(navigator.mediaDevices?.getUserMedia);
  }

  // The reason shown when it is not.
  get reason() {
    return this.failure || (navigator.mediaDevices?.getUserMedia ? "" : explain(null));
  }

  get el() {
    return document.getElementById("camera");
  }

  // Open the sheet. Resolves to {canvas, takenAt} when 拍摄 is tapped, null when cancelled; rejects with a
  // CameraUnavailable (and the camera is not tried again) when the browser gives no picture.
  open(title = "") {
    if (this.pending) this.close(null);
    const el = this.el;
    const video = el.querySelector("video");
    const shoot = el.querySelector("#camera-shoot");
    el.querySelector("#camera-title").textContent = title;
    el.querySelector("#camera-status").textContent = "正在打开相机…";
    el.dataset.state = "opening";
    shoot.disabled = true;
    el.hidden = false;
    document.body.classList.add("camera-open");
    piexif().catch(() => {}); // warm up (cached by the service worker)
    const result = new Promise((resolve, reject) => { this.pending = { resolve, reject }; });
    if (!this.wired) this.wire();
    navigator.mediaDevices.getUserMedia(CONSTRAINTS).then(async (stream) => {
      if (!this.pending) { // cancelled meanwhile
        stream.getTracks().forEach((t) => t.stop());
        return;
      }
      this.stream = stream;
      video.srcObject = stream;
      try {
        await video.play();
      } catch {
        // autoplay of a muted inline video is allowed; "loadeddata" below still enables 拍摄
      }
    }).catch((e) => {
      this.failure = explain(e);
      this.close(new CameraUnavailable(this.failure));
    });
    return result;
  }

  wire() {
    this.wired = true;
    const el = this.el;
    const video = el.querySelector("video");
    const ready = () => {
      if (!this.pending || !video.videoWidth) return;
      el.dataset.state = "live";
      el.querySelector("#camera-status").textContent = "";
      el.querySelector("#camera-shoot").disabled = false;
    };
    video.addEventListener("loadeddata", ready);
    video.addEventListener("resize", ready);
    el.querySelector("#camera-cancel").addEventListener("click", () => this.close(null));
    el.querySelector("#camera-shoot").addEventListener("click", () => this.shoot());
    window.addEventListener("hashchange", () => this.close(null)); // left the screen (back button)
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.pending) this.close(null);
    });
  }

  shoot() {
    const video = this.el.querySelector("video");
    if (!this.pending || !video.videoWidth) return;
    const takenAt = new Date();
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    this.close({ canvas, takenAt });
  }

  // Stop the camera, hide the sheet, settle the promise of open(): a value resolves it, an Error rejects it.
  close(outcome) {
    const el = this.el;
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
    if (el) {
      const video = el.querySelector("video");
      video.srcObject = null;
      el.hidden = true;
      el.dataset.state = "closed";
    }
    document.body.classList.remove("camera-open");
    const pending = this.pending;
    this.pending = null;
    if (!pending) return;
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }
}

export const camera = new Camera();

// -- the JPEG and its EXIF --------------------------------------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, "0");

// "YYYY:MM:DD HH:MM:SS" in Beijing time (UTC+8 all year), whatever the phone's time zone.
function exifTime(date) {
  const b = new Date(date.getTime() + BEIJING_MS);
  return `${b.getUTCFullYear()}:${pad(b.getUTCMonth() + 1)}:${pad(b.getUTCDate())} `
    + `${pad(b.getUTCHours())}:${pad(b.getUTCMinutes())}:${pad(b.getUTCSeconds())}`;
}

// Degrees as EXIF rationals (degrees, minutes, seconds to 1/10000"): about 3 mm.
function dms(value) {
  const abs = Math.abs(value);
  let d = Math.floor(abs);
  let m = Math.floor((abs - d) * 60);
  let s = Math.round(((abs - d) * 60 - m) * 60 * 10000);
  if (s >= 600000) { s -= 600000; m += 1; }
  if (m >= 60) { m -= 60; d += 1; }
  return [[d, 1], [m, 1], [s, 10000]];
}

function toBinary(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) out += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return out;
}

function fromBinary(text) {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function canvasJpeg(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("JPEG 编码失败"))), "image/jpeg", JPEG_QUALITY);
  });
}

// The frame as a JPEG (ArrayBuffer) with EXIF: when it was taken and, for a WGS84 position (what the GPS gives;
// a GCJ-02 one from a map SDK is not written), where.
export async function encodeJpeg(canvas, takenAt, fix) {
  const [px, blob] = await Promise.all([piexif(), canvasJpeg(canvas)]);
  const I = px.ImageIFD;
  const E = px.ExifIFD;
  const G = px.GPSIFD;
  const time = exifTime(takenAt);
  const exif = {
    "0th": { [I.Make]: MAKE, [I.Model]: MODEL, [I.DateTime]: time, [I.Software]: "chengjian mobile" },
    Exif: {
      [E.DateTimeOriginal]: time, [E.DateTimeDigitized]: time, 36881: "+08:00", 36880: "+08:00",
      [E.PixelXDimension]: canvas.width, [E.PixelYDimension]: canvas.height,
    },
    GPS: {},
  };
  if (fix && (fix.crs || "EPSG:4326") === "EPSG:4326") {
    const utc = new Date(takenAt.getTime());
    Object.assign(exif.GPS, {
      [G.GPSVersionID]: [2, 3, 0, 0],
      [G.GPSLatitudeRef]: fix.lat < 0 ? "S" : "N",
      [G.GPSLatitude]: dms(fix.lat),
      [G.GPSLongitudeRef]: fix.lon < 0 ? "W" : "E",
      [G.GPSLongitude]: dms(fix.lon),
      [G.GPSMapDatum]: "WGS-84",
      [G.GPSDateStamp]: `${utc.getUTCFullYear()}:${pad(utc.getUTCMonth() + 1)}:${pad(utc.getUTCDate())}`,
      [G.GPSTimeStamp]: [[utc.getUTCHours(), 1], [utc.getUTCMinutes(), 1], [utc.getUTCSeconds(), 1]],
    });
    if (Number.isFinite(fix.accuracy_m)) exif.GPS[G.GPSHPositioningError] = [Math.round(fix.accuracy_m * 10), 10];
  }
  const jpeg = toBinary(new Uint8Array(await blob.arrayBuffer()));
  return fromBinary(px.insert(px.dump(exif), jpeg)).buffer;
}
