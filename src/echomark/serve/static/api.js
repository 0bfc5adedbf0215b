// The annotator's HTTP API, as small async functions. Errors carry the server's message.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function call(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

const enc = encodeURIComponent;
export const info = () => call("GET", "/api/info");
export const frames = (params) => call("GET", "/api/frames?" + new URLSearchParams(params));
export const frame = (key) => call("GET", `/api/frames/${enc(key)}`);
export const imageUrl = (key) => `/api/frames/${enc(key)}/image`;
export const thumbUrl = (key) => `/api/frames/${enc(key)}/thumb?size=96`;
export const saveLabels = (key, version, labels) =>
  call("PUT", `/api/frames/${enc(key)}/labels`, { version, labels });
export const spline = (inst) =>
  call("POST", "/api/spline", { x: inst.x, y: inst.y, straight_segment: inst.straight_segment });
export const predict = (key) => call("POST", `/api/frames/${enc(key)}/predict`);
