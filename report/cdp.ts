/**
 * A minimal headless-Chromium driver over the Chrome DevTools Protocol, using only Deno's
 * built-in WebSocket: used by report/screenshot.ts and tests/report_browser_test.ts.
 *
 * The browser is started with `--remote-debugging-port=0`; its WebSocket address is read
 * from the `DevTools listening on ws://...` line it prints on stderr. Pages are driven
 * through flattened target sessions. `close()` always ends the process and removes the
 * temporary profile folder.
 */

import { NeoxError } from "../engine/errors.ts";

const CANDIDATES = [
  "chromium",
  "chromium-browser",
  "google-chrome",
  "google-chrome-stable",
  "chrome",
];

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Path of a Chromium/Chrome binary: $CHROME_BIN or $CHROMIUM_BIN if set, else the first of
 * chromium, chromium-browser, google-chrome, ... found on $PATH; null when there is none.
 */
export function findChromium(): string | null {
  for (const name of ["CHROME_BIN", "CHROMIUM_BIN"]) {
    const value = Deno.env.get(name);
    if (value && isExecutable(value)) return value;
  }
  const dirs = (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":").filter((d) => d);
  for (const name of CANDIDATES) {
    for (const dir of dirs) {
      const path = `${dir}/${name}`;
      if (isExecutable(path)) return path;
    }
  }
  return null;
}

// deno-lint-ignore no-explicit-any
type Json = any;

interface Pending {
  resolve: (value: Json) => void;
  reject: (error: Error) => void;
  method: string;
}

/** One CDP event as received. */
export interface CdpEvent {
  method: string;
  params: Json;
  sessionId?: string;
}

/** How to start the browser. */
export interface LaunchOptions {
  /**
   * Give pages a WebGPU adapter: SwiftShader, Chromium's CPU implementation, which works
   * on machines without a GPU (timestamp-query and subgroups, no shader-f16).
   */
  webgpu?: boolean;
}

/** Chromium flags that expose navigator.gpu with a SwiftShader adapter in headless mode. */
export const WEBGPU_FLAGS = [
  "--enable-unsafe-webgpu",
  "--enable-unsafe-swiftshader",
  "--use-webgpu-adapter=swiftshader",
];

/** A running headless browser and its DevTools connection. */
export class Browser {
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #listeners = new Set<(event: CdpEvent) => void>();
  #closed = false;

  private constructor(
    private readonly process: Deno.ChildProcess,
    private readonly socket: WebSocket,
    private readonly profileDir: string,
    private readonly stderrDone: Promise<void>,
    private readonly socketClosed: Promise<void>,
  ) {
    socket.onmessage = (e) => this.#onMessage(String(e.data));
  }

  /** Starts headless Chromium and connects to it; throws a NeoxError if it cannot start. */
  static async launch(
    binary: string,
    timeoutMs = 30_000,
    o: LaunchOptions = {},
  ): Promise<Browser> {
    const profileDir = await Deno.makeTempDir({ prefix: "neox-chromium-" });
    let process: Deno.ChildProcess;
    try {
      process = new Deno.Command(binary, {
        args: [
          "--headless",
          "--no-sandbox",
          ...(o.webgpu ? WEBGPU_FLAGS : ["--disable-gpu"]),
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-default-apps",
          "--disable-extensions",
          "--disable-sync",
          "--disable-dev-shm-usage",
          "--no-first-run",
          "--no-default-browser-check",
          "--mute-audio",
          "--hide-scrollbars",
          "--remote-debugging-port=0",
          `--user-data-dir=${profileDir}`,
          "about:blank",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
      }).spawn();
    } catch (e) {
      await Deno.remove(profileDir, { recursive: true }).catch(() => {});
      throw new NeoxError(`${binary}: cannot start the browser: ${(e as Error).message}`);
    }

    // Read stderr until the DevTools line, then keep draining it so the browser never blocks.
    let log = "";
    let resolveUrl!: (url: string) => void;
    let rejectUrl!: (e: Error) => void;
    const urlPromise = new Promise<string>((res, rej) => {
      resolveUrl = res;
      rejectUrl = rej;
    });
    const stderrDone = (async () => {
      const decoder = new TextDecoder();
      let found = false;
      for await (const chunk of process.stderr) {
        if (log.length < 200_000) log += decoder.decode(chunk, { stream: true });
        if (!found) {
          const m = log.match(/DevTools listening on (ws:\/\/\S+)/);
          if (m) {
            found = true;
            resolveUrl(m[1]);
          }
        }
      }
      if (!found) rejectUrl(new Error("the browser exited before printing its DevTools address"));
    })();

    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(
        () => rej(new Error(`no DevTools address within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    let socket: WebSocket;
    let socketClosed: Promise<void>;
    try {
      const url = await Promise.race([urlPromise, timeout]);
      socket = new WebSocket(url);
      socketClosed = new Promise<void>((res) => socket.addEventListener("close", () => res()));
      await Promise.race([
        new Promise<void>((res, rej) => {
          socket.addEventListener("open", () => res(), { once: true });
          socket.addEventListener("error", () => rej(new Error(`cannot connect to ${url}`)), {
            once: true,
          });
        }),
        timeout,
      ]);
    } catch (e) {
      clearTimeout(timer);
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
      await process.status;
      await stderrDone.catch(() => {});
      await Deno.remove(profileDir, { recursive: true }).catch(() => {});
      const tail = log.trim().split("\n").slice(-3).join(" | ");
      throw new NeoxError(
        `${binary}: headless browser did not start: ${(e as Error).message}${
          tail ? ` (${tail})` : ""
        }`,
      );
    }
    clearTimeout(timer);
    return new Browser(process, socket, profileDir, stderrDone, socketClosed);
  }

  #onMessage(text: string): void {
    const msg = JSON.parse(text);
    if (typeof msg.id === "number") {
      const pending = this.#pending.get(msg.id);
      if (!pending) return;
      this.#pending.delete(msg.id);
      if (msg.error) {
        pending.reject(
          new Error(`${pending.method}: ${msg.error.message ?? JSON.stringify(msg.error)}`),
        );
      } else pending.resolve(msg.result);
    } else if (typeof msg.method === "string") {
      for (const listener of this.#listeners) {
        listener({ method: msg.method, params: msg.params, sessionId: msg.sessionId });
      }
    }
  }

  /** Sends one CDP command (to a page session when `sessionId` is given) and awaits its result. */
  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    if (this.#closed) return Promise.reject(new Error(`${method}: browser is closed`));
    const id = this.#nextId++;
    const message: Json = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      this.socket.send(JSON.stringify(message));
    });
  }

  /** Calls `listener` for every CDP event until the returned function is called. */
  on(listener: (event: CdpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Opens a new page and returns its session. */
  async newPage(width = 1400, height = 900): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId);
    await page.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  /** Ends the browser (politely, then by force), closes the socket, removes the profile. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await Promise.race([
        this.send("Browser.close"),
        new Promise((res) => setTimeout(res, 2000)),
      ]);
    } catch { /* the browser may already be gone */ }
    this.#closed = true;
    for (const pending of this.#pending.values()) pending.reject(new Error("browser closed"));
    this.#pending.clear();
    const exited = await Promise.race([
      this.process.status.then(() => true),
      new Promise<boolean>((res) => setTimeout(() => res(false), 3000)),
    ]);
    if (!exited) {
      try {
        this.process.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await this.process.status;
    if (this.socket.readyState !== WebSocket.CLOSED) {
      try {
        this.socket.close();
      } catch { /* ignore */ }
      await Promise.race([this.socketClosed, new Promise((res) => setTimeout(res, 2000))]);
    }
    await this.stderrDone.catch(() => {});
    await Deno.remove(this.profileDir, { recursive: true }).catch(() => {});
  }
}

/** One page (a flattened target session). */
export class Page {
  constructor(readonly browser: Browser, readonly sessionId: string) {}

  send(method: string, params: Json = {}): Promise<Json> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Navigates and waits for the load event. */
  async goto(url: string, timeoutMs = 20_000): Promise<void> {
    await this.send("Page.enable");
    let off = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loaded = new Promise<void>((resolve, reject) => {
      off = this.browser.on((e) => {
        if (e.sessionId === this.sessionId && e.method === "Page.loadEventFired") resolve();
      });
      timer = setTimeout(
        () => reject(new Error(`${url}: page did not load in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const result = await this.send("Page.navigate", { url });
      if (result.errorText) throw new Error(`${url}: ${result.errorText}`);
      await loaded;
    } finally {
      off();
      clearTimeout(timer);
    }
  }

  /** Evaluates an expression in the page (awaiting promises) and returns its JSON value. */
  async evaluate(expression: string): Promise<Json> {
    const result = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (result.exceptionDetails) {
      const d = result.exceptionDetails;
      throw new Error(`evaluate failed: ${d.exception?.description ?? d.text}`);
    }
    return result.result.value;
  }

  /** Polls `expression` until it is truthy. */
  async waitFor(expression: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await this.evaluate(expression)) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error(`timed out waiting for ${expression}`);
  }

  /** PNG of the whole page (width as set by newPage, height of the content). */
  async screenshot(): Promise<Uint8Array> {
    const height = Math.ceil(
      await this.evaluate("document.documentElement.scrollHeight") as number,
    );
    const width = Math.ceil(await this.evaluate("document.documentElement.clientWidth") as number);
    const { data } = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width, height: Math.min(height, 16_000), scale: 1 },
    });
    return Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
  }
}
