// Where the phone is: the browser's Geolocation API, high accuracy. The browser gives WGS84 (EPSG:4326); a
// position from a Chinese map SDK (AMap, Tencent) would be GCJ-02 and must say so (crs "GCJ02") — the server
// converts it before the fence check. Every photo is stamped with a position taken when it comes back from the
// camera; without one the photo is not uploaded, and the user is told why.

const WATCH = { enableHighAccuracy: true, maximumAge: 0 };
const PHOTO = { enableHighAccuracy: true, maximumAge: 0, timeout: 15000 };
const FALLBACK_AGE_MS = 30000; // a watched fix received this recently may stand in when a fresh one times out

export class LocationError extends Error {}

function explain(error) {
  if (!window.isSecureContext) {
    return "无法定位：浏览器只允许 HTTPS 页面使用定位，请通过 HTTPS 地址打开本应用。";
  }
  switch (error?.code) {
    case 1:
      return "未允许定位：请在浏览器或手机设置中允许本应用使用位置信息。照片必须带拍摄位置才能上传。";
    case 2:
      return "无法获取位置：请打开手机的定位服务（GPS），到室外开阔处再试。";
    case 3:
      return "定位超时：请打开 GPS，到室外开阔处稍候再拍。";
    default:
      return "无法获取位置：此浏览器不支持定位。";
  }
}

function toFix(position) {
  const c = position.coords;
  return {
    lon: c.longitude,
    lat: c.latitude,
    accuracy_m: Math.round(c.accuracy * 10) / 10,
    crs: "EPSG:4326", // the W3C Geolocation API reports WGS84
    at: position.timestamp || Date.now(),
    received: Date.now(),
  };
}

export class Locator extends EventTarget {
  constructor() {
    super();
    this.fix = null;
    this.error = null;
    this.watchId = null;
  }

  get supported() {
    return "geolocation" in navigator;
  }

  // Keep a fix while a capture screen is open (the GPS warms up before the first photo).
  start() {
    if (this.watchId !== null) return;
    if (!this.supported) {
      this.error = explain(null);
      this.changed();
      return;
    }
    this.watchId = navigator.geolocation.watchPosition(
      (p) => { this.fix = toFix(p); this.error = null; this.changed(); },
      (e) => { this.error = explain(e); this.changed(); },
      WATCH,
    );
  }

  stop() {
    if (this.watchId !== null) navigator.geolocation.clearWatch(this.watchId);
    this.watchId = null;
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  // A fresh position for a photo; rejects with a LocationError saying why there is none. The watch pauses
  // meanwhile: some browsers answer a one-off request only when no watch is running (the GPS stays warm).
  current() {
    if (!this.supported) return Promise.reject(new LocationError(explain(null)));
    const watching = this.watchId !== null;
    this.stop();
    return new Promise((resolve, reject) => {
      navigator.geolocation.getCurrentPosition(
        (p) => { this.fix = toFix(p); this.error = null; this.changed(); resolve(this.fix); },
        (e) => {
          if (e.code !== 1 && this.fix && Date.now() - this.fix.received < FALLBACK_AGE_MS) {
            resolve(this.fix);
            return;
          }
          this.error = explain(e);
          this.changed();
          reject(new LocationError(this.error));
        },
        PHOTO,
      );
    }).finally(() => {
      if (watching) this.start();
    });
  }
}

export const locator = new Locator();
